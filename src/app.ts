import type { Context } from "hono";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import { createDb } from "./db/client";
import type { AppEnv } from "./env";
import { api, route } from "./http/openapi";
import { logLine } from "./lib/log";
import { DOCS_HTML, openApiDocument, registerSecurity } from "./openapi";
import { adminApi } from "./routes/admin";
import { healthRoute } from "./routes/health";
import { mqttRoute } from "./routes/mqtt";
import { pspApi } from "./routes/psp";
import { technicianApi } from "./routes/technician";
import { uploadsRoute } from "./routes/uploads";

/** The Worker's HTTP surface: one sub-app per API, each answering in its own envelope. */
export const app = api();

// A request id on every answer (X-Request-Id; a valid one the client sent is kept) and on every
// log line. The WebSocket upgrade's 101 comes from a hub with immutable headers: id, no header.
const withRequestId = requestId();
const requestIdOnly = requestId({ headerName: "" });
app.use("*", (c, next) => (c.req.path === "/mqtt" ? requestIdOnly : withRequestId)(c, next));

// One structured line per request: never the query string (`?token=` on /mqtt, `sign=` on /psp).
app.use("*", async (c, next) => {
  const started = Date.now();
  try {
    await next();
  } finally {
    const path = c.req.path;
    logLine("info", "request", {
      request_id: c.get("requestId"),
      method: c.req.method,
      path,
      status: c.res.status,
      ms: Date.now() - started,
      app: c.get("app")?.name ?? (path.startsWith("/api/mobile/technician/") ? "technician" : undefined),
    });
  }
});

app.use("*", async (c, next) => {
  c.set("db", createDb(c.env.DB));
  await next();
});

// Security headers on every answer but the WebSocket upgrade (a 101 from the hub). Public
// uploads (avatars) may be embedded by other origins.
const apiHeaders = secureHeaders();
const uploadHeaders = secureHeaders({ crossOriginResourcePolicy: "cross-origin" });
// The console's page runs only its own files: scripts, styles, and fetch / WebSocket to this origin.
const consoleHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    connectSrc: ["'self'"],
    imgSrc: ["'self'", "data:"],
    // mqtt.js runs its keepalive timers in a blob: worker (not throttled in background tabs).
    workerSrc: ["'self'", "blob:"],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
    frameAncestors: ["'none'"],
  },
});
const isConsole = (path: string) => path === "/console" || path.startsWith("/console/");
app.use("*", (c, next) => {
  if (c.req.path === "/mqtt") return next();
  if (isConsole(c.req.path)) return consoleHeaders(c, next);
  return (c.req.path.startsWith("/uploads/") ? uploadHeaders : apiHeaders)(c, next);
});

route(app, "public", { method: "get", path: "/", summary: "The platform's name" }, (c) =>
  c.json({ name: "edge-push", status: "ok" }),
);
route(app, "public", { method: "get", path: "/openapi.json", summary: "This document (OpenAPI 3.1)" }, (c) =>
  c.json(openApiDocument(app)),
);
route(
  app,
  "public",
  { method: "get", path: "/docs", summary: "The interactive API reference (Scalar)" },
  (c) => c.html(DOCS_HTML),
);
// Static files (public/, scripts/vendor-assets.mjs) come from the assets binding; the Worker runs first.
route(
  app,
  "public",
  { method: "get", path: "/docs/vendor/{file}", summary: "The reference's script bundle (static assets)" },
  // A copy: the assets' own answer has immutable headers, and the security headers go on it.
  async (c) => {
    const res = await c.env.ASSETS.fetch(c.req.raw);
    return new Response(res.body, res);
  },
);
// The console (public/console/, docs/admin-api.md "Console"): static files from the assets
// binding, copied into a fresh Response so that the headers above can be set on it.
const consoleFile = async (c: Context<AppEnv>) => {
  const res = await c.env.ASSETS.fetch(c.req.raw);
  return new Response(res.body, res);
};
for (const [path, summary] of [
  ["/console", "The operators' console (static)"],
  ["/console/", "The operators' console (static)"],
  ["/console/{file}", "The console's files (static assets)"],
  ["/console/vendor/{file}", "The console's libraries (static assets)"],
] as const) {
  route(app, "public", { method: "get", path, summary }, consoleFile);
}
app.route("/healthz", healthRoute);
app.route("/api/admin", adminApi);
app.route("/psp", pspApi);
app.route("/api/mobile/technician/v2", technicianApi);
app.route("/uploads", uploadsRoute);
app.route("/mqtt", mqttRoute);
registerSecurity(app);

/** Unknown paths answer 404 in the envelope of the surface they fall under. */
app.notFound((c) => {
  const path = new URL(c.req.url).pathname;
  if (path.startsWith("/psp/")) {
    return c.json({ ret: "FAIL", data: { error_code: 4004, error_msg: "no such API" } }, 404);
  }
  if (path.startsWith("/api/mobile/")) return c.json({ status: false, message: "接口不存在" }, 404);
  if (path.startsWith("/uploads/")) {
    return c.json({ result: false, message: "文件不存在", error: "NOT_FOUND", data: null }, 404);
  }
  return c.json({ error: "not_found", message: `no route for ${c.req.method} ${path}` }, 404);
});
