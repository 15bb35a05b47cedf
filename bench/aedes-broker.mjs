// Aedes over WebSocket, as its documentation's example serves it (benchmark comparison broker):
//   node bench/aedes-broker.mjs <port>
// Listens on 127.0.0.1:<port>, any path; prints "listening" once ready.
import { createServer } from "node:http";
import { Aedes } from "aedes";
import { createWebSocketStream, WebSocketServer } from "ws";

const port = Number(process.argv[2] ?? 0);
const aedes = await Aedes.createBroker();
const httpServer = createServer();
const wss = new WebSocketServer({ server: httpServer, perMessageDeflate: false });
wss.on("connection", (websocket, req) => {
  aedes.handle(createWebSocketStream(websocket), req);
});
httpServer.listen(port, "127.0.0.1", () => console.log("listening"));
process.on("SIGTERM", () => aedes.close(() => process.exit(0)));
