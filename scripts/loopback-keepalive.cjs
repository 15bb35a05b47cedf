// Preloaded into wrangler dev's Node process (npm start, the benchmarks). miniflare in wrangler
// 4.86 serves its loopback on node:http with Node's default 5 s keep-alive while workerd reuses
// those connections; a request sent just as Node closes one is lost, and when that request is
// the local queue broker's, local queue delivery stops for good (workers-sdk issue 14848, fixed
// upstream by pull request 14850). Like the upstream fix, this turns the keep-alive timeout off.
// Remove it once wrangler is upgraded past the fix.
const http = require("node:http");

const createServer = http.createServer;
http.createServer = function (...args) {
  const server = createServer.apply(this, args);
  server.keepAliveTimeout = 0;
  return server;
};
