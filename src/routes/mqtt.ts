import { z } from "zod";
import { api, route } from "../http/openapi";
import {
  IDENTITY_APP,
  IDENTITY_GEN,
  IDENTITY_KEEPALIVE,
  IDENTITY_SESSION,
  IDENTITY_SUB,
  userHub,
} from "../hubs/common";
import { IDENTIFIER } from "../lib/ids";
import { verifyToken } from "../lib/jwt";
import { keepalivePolicy } from "../mqtt/session/keepalive";
import { cachedAppByName } from "../services/apps";
import { resolveSession } from "./technician/session";

const refuse = (status: 401 | 403 | 426, message: string) =>
  Response.json({ error: status === 426 ? "upgrade_required" : "unauthorized", message }, { status });

/**
 * `GET /mqtt` (CONTRACT §3): the identity is known before any MQTT byte — `?token=` or
 * `Authorization: Bearer` — and the upgrade goes to that identity's UserHub.
 */
export const mqttRoute = api();
route(
  mqttRoute,
  "public",
  {
    method: "get",
    path: "/",
    summary: "MQTT 3.1.1 / 5.0 over WebSocket (subprotocol `mqtt`)",
    description:
      "A WebSocket upgrade, not a JSON call. The identity is known at the upgrade: `?token=<jwt>` or " +
      "`Authorization: Bearer <jwt>`, a token from `POST /psp/mqtt/token` or a technician's login token. " +
      "No valid token: 401, no upgrade; a banned account or a disabled app: 403; no upgrade: 426. " +
      "Topics, ACL and sessions: docs/mqtt.md.",
    query: z.object({ token: z.string().optional().describe("the MQTT token (or Authorization: Bearer)") }),
    status: 101,
    security: [{ mqttToken: [] }, { mqttBearer: [] }],
  },
  async (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket")
      return refuse(426, "connect with a WebSocket");
    const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "")?.[1]?.trim();
    const token = c.req.query("token") || bearer;
    const claims = token ? await verifyToken(c.env.JWT_SECRET, token) : null;
    if (!claims || !IDENTIFIER.test(claims.sub)) return refuse(401, "a valid token is required");
    if (claims.typ === "session") {
      // A technician's login token, while its session is alive (app `technician`) and the
      // technician is not banned.
      const session = await resolveSession(c.var.db, c.env.JWT_SECRET, token);
      if (!session) return refuse(401, "the session has ended");
      if (session.technician.banned) return refuse(403, "the account is banned");
    }
    const app = await cachedAppByName(c.var.db, claims.app);
    if (!app) return refuse(401, "unknown app");
    if (!app.enabled) return refuse(403, "the app is disabled");
    c.set("app", app); // for the request log line

    const headers = new Headers(c.req.raw.headers);
    headers.set(IDENTITY_APP, app.name);
    headers.set(IDENTITY_SUB, claims.sub);
    headers.set(IDENTITY_KEEPALIVE, JSON.stringify(keepalivePolicy(app.mqttKeepalive, claims.cls)));
    // MQTT tokens are checked against the identity's token generation in its hub; a technician
    // session's connections are ended with the session (docs/mqtt.md "Revocation").
    headers.delete(IDENTITY_GEN);
    headers.delete(IDENTITY_SESSION);
    if (claims.typ === "mqtt") headers.set(IDENTITY_GEN, String(claims.gen ?? 0));
    else if (claims.sid) headers.set(IDENTITY_SESSION, claims.sid);
    return userHub(c.env, { app: app.name, id: claims.sub }).fetch(new Request(c.req.raw, { headers }));
  },
);
