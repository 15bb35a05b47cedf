import { type ConnectPacket, encode, FrameBuffer, type Packet } from "../../src/mqtt/codec";
import { call } from "./api";

/** An MQTT client speaking raw packets over a WebSocket upgraded through the Worker's `/mqtt`. */
export type WsClient = {
  packets: Packet[];
  send: (p: Packet) => void;
  /** The next packet of `type` (already received, or to come). */
  next: (type: Packet["type"]) => Promise<Packet>;
  /** Resolves with the close code once the server closed the socket. */
  closed: Promise<number>;
  close: () => void;
};

/**
 * Upgrades with `token` and sends CONNECT (5.0 unless told; a clean session unless `connect`
 * says otherwise), resolving after the CONNACK.
 */
export const mqttConnect = async (
  token: string,
  version: 4 | 5 = 5,
  clientId = "c1",
  connect: Pick<ConnectPacket, "clean" | "properties"> = { clean: true },
): Promise<WsClient> => {
  const res = await call(`/mqtt?token=${encodeURIComponent(token)}`, { headers: { upgrade: "websocket" } });
  const ws = res.webSocket;
  if (res.status !== 101 || !ws) throw new Error(`upgrade: ${res.status}`);
  ws.accept();
  const buffer = new FrameBuffer(undefined, version);
  const packets: Packet[] = [];
  const waiters: (() => void)[] = [];
  // Frames arrive as Blobs here: read in order, one after another.
  let reading = Promise.resolve();
  ws.addEventListener("message", (e) => {
    const data = e.data as Blob | ArrayBuffer;
    reading = reading.then(async () => {
      const bytes = data instanceof Blob ? await data.arrayBuffer() : data;
      packets.push(...buffer.push(new Uint8Array(bytes)));
      for (const w of waiters.splice(0)) w();
    });
  });
  const closed = new Promise<number>((resolve) =>
    ws.addEventListener("close", (e) => {
      reading = reading.then(() => resolve(e.code));
    }),
  );
  const next = (type: Packet["type"]) =>
    new Promise<Packet>((resolve) => {
      const look = () => {
        const p = packets.find((x) => x.type === type);
        if (p) resolve(p);
        else waiters.push(look);
      };
      look();
    });
  const client: WsClient = {
    packets,
    send: (p) => ws.send(encode(p, version)),
    next,
    closed,
    close: () => ws.close(1000),
  };
  client.send({ type: "connect", protocolVersion: version, clientId, keepalive: 60, ...connect });
  const connack = await next("connack");
  if ((connack as { reasonCode: number }).reasonCode !== 0) throw new Error("CONNECT refused");
  return client;
};

/** The HTTP status an upgrade to `/mqtt` gets with `token` (101: accepted, then closed). */
export const upgradeStatus = async (token: string): Promise<number> => {
  const res = await call(`/mqtt?token=${encodeURIComponent(token)}`, { headers: { upgrade: "websocket" } });
  if (res.webSocket) {
    res.webSocket.accept();
    res.webSocket.close(1000);
  }
  return res.status;
};
