import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * Getui REST API v2 stand-in under `/getui` (the base URL that ends in `/v2` in production):
 * `POST /getui/{app_id}/auth` and `POST /getui/{app_id}/push/single/cid`, with Getui's envelope
 * `{code, msg, data}` and business codes (https://docs.getui.com/getui/server/rest_v2/code).
 *
 * Control (tests only):
 * - `POST /getui/_apps {app_id, app_key, master_secret, token_ttl_ms?}` registers an app (tokens last a day).
 * - `POST /getui/_expire-tokens {app_id}` invalidates every token issued so far (next push: 10001).
 * - `POST /getui/_cids {cid}` marks a cid invalid ("target user is invalid").
 * - `POST /getui/_fail {cid, count, status, code?, msg?}` fails the next `count` pushes to the cid:
 *   with `code`, Getui's JSON envelope; without, a bare gateway error page.
 * - `GET /getui/_received?cid=` accepted pushes; `GET /getui/_stats?app_id=` `{auth_requests}`.
 */
interface App {
  appKey: string;
  masterSecret: string;
  tokenTtlMs: number;
  authRequests: number;
}
interface Failure {
  count: number;
  status: number;
  code?: number;
  msg: string;
}
export interface GetuiPush {
  path: string;
  headers: Record<string, string>;
  body: string;
}

const CLICK_TYPES = new Set(["intent", "url", "payload", "payload_custom", "startapp", "none"]);
const MAX_TTL = 3 * 24 * 3600 * 1000;

const envelope = (res: ServerResponse, status: number, code: number, msg: string, data?: unknown) => {
  res
    .writeHead(status, { "content-type": "application/json;charset=utf-8" })
    .end(JSON.stringify(data === undefined ? { code, msg } : { code, msg, data }));
};
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const isText = (v: unknown, max: number): v is string =>
  typeof v === "string" && v.length > 0 && v.length <= max;

/** The first rule of `push/single/cid` the body breaks, as Getui's 20001 message. */
const invalidPush = (body: Record<string, unknown>, seen: Set<string>): string | undefined => {
  const id = body.request_id;
  if (typeof id !== "string" || id.length < 10 || id.length > 32) return "request_id size over limit";
  if (seen.has(id)) return "request_id cannot be repeat.";
  const audience = body.audience as { cid?: unknown } | undefined;
  const cids = audience?.cid;
  if (!Array.isArray(cids) || cids.length !== 1 || !isText(cids[0], 64)) return "audience.cid is invalid";
  const ttl = (body.settings as { ttl?: unknown } | undefined)?.ttl;
  if (ttl !== undefined && (!Number.isInteger(ttl) || (ttl as number) < -1 || (ttl as number) > MAX_TTL)) {
    return "settings.ttl is invalid";
  }
  const message = (body.push_message ?? {}) as Record<string, unknown>;
  const kinds = ["notification", "transmission", "revoke"].filter((k) => message[k] !== undefined);
  if (kinds.length !== 1) return "please choose one of notification and transmission and revoke";
  if (message.transmission !== undefined) {
    return isText(message.transmission, 3072) ? undefined : "push_message.transmission is invalid";
  }
  const n = message.notification as Record<string, unknown> | undefined;
  if (!n || typeof n !== "object") return "push_message.notification is invalid";
  if (!isText(n.title, 50)) return "notification.title is invalid";
  if (!isText(n.body, 256)) return "notification.body is invalid";
  if (typeof n.click_type !== "string" || !CLICK_TYPES.has(n.click_type)) return "click_type is invalid";
  if ((n.click_type === "payload" || n.click_type === "payload_custom") && !isText(n.payload, 3000)) {
    return "notification.payload is invalid";
  }
  return undefined;
};

export const createGetuiStandIn = () => {
  const apps = new Map<string, App>();
  const tokens = new Map<string, { appId: string; expiresAt: number }>();
  const invalidCids = new Set<string>();
  const failures = new Map<string, Failure>();
  const requestIds = new Set<string>();
  const received = new Map<string, GetuiPush[]>();

  const auth = (res: ServerResponse, appId: string, input: Record<string, unknown>) => {
    const app = apps.get(appId);
    if (!app) return envelope(res, 400, 20001, "appId is invalid");
    app.authRequests++;
    const timestamp = String(input.timestamp ?? "");
    if (input.appkey !== app.appKey) return envelope(res, 400, 20001, "appkey is invalid");
    if (!/^\d{13}$/.test(timestamp) || Math.abs(Number(timestamp) - Date.now()) > 10 * 60_000) {
      return envelope(res, 400, 20001, "timestamp is invalid");
    }
    const sign = String(input.sign ?? "").toLowerCase();
    if (sign !== sha256(app.appKey + timestamp + app.masterSecret)) {
      return envelope(res, 400, 20001, "sign is invalid");
    }
    const token = randomBytes(32).toString("hex");
    const expiresAt = Date.now() + app.tokenTtlMs;
    tokens.set(token, { appId, expiresAt });
    envelope(res, 200, 0, "success", { expire_time: String(expiresAt), token });
  };

  const push = (req: IncomingMessage, res: ServerResponse, appId: string, input: Record<string, unknown>) => {
    const issued = tokens.get(String(req.headers.token ?? ""));
    if (!issued || issued.appId !== appId || issued.expiresAt <= Date.now()) {
      return envelope(res, 401, 10001, "token expired or invalid");
    }
    const cid = String((input.audience as { cid?: unknown[] } | undefined)?.cid?.[0] ?? "");
    const failure = failures.get(cid);
    if (failure && failure.count > 0) {
      failure.count--;
      if (failure.code === undefined) {
        res
          .writeHead(failure.status, { "content-type": "text/html" })
          .end("<html>Service Unavailable</html>");
        return;
      }
      return envelope(res, failure.status, failure.code, failure.msg);
    }
    const invalid = invalidPush(input, requestIds);
    if (invalid) return envelope(res, 400, 20001, invalid);
    if (invalidCids.has(cid)) return envelope(res, 400, 20001, "target user is invalid");
    requestIds.add(String(input.request_id));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = String(v);
    const list = received.get(cid) ?? [];
    received.set(cid, list);
    list.push({ path: `/${appId}/push/single/cid`, headers, body: JSON.stringify(input) });
    const taskId = `RASS_${randomBytes(16).toString("hex")}`;
    envelope(res, 200, 0, "", { [taskId]: { [cid]: "successed_online" } });
  };

  const control = (req: IncomingMessage, res: ServerResponse, path: string, url: URL, body: string) => {
    const input = (req.method === "POST" ? JSON.parse(body || "{}") : {}) as Record<string, unknown>;
    if (req.method === "POST" && path === "/_apps") {
      apps.set(String(input.app_id), {
        appKey: String(input.app_key),
        masterSecret: String(input.master_secret),
        tokenTtlMs: Number(input.token_ttl_ms ?? 24 * 3600_000),
        authRequests: 0,
      });
    } else if (req.method === "POST" && path === "/_expire-tokens") {
      for (const t of tokens.values()) if (t.appId === input.app_id) t.expiresAt = 0;
    } else if (req.method === "POST" && path === "/_cids") {
      invalidCids.add(String(input.cid));
    } else if (req.method === "POST" && path === "/_fail") {
      failures.set(String(input.cid), {
        count: Number(input.count ?? 1),
        status: Number(input.status ?? 503),
        code: input.code === undefined ? undefined : Number(input.code),
        msg: String(input.msg ?? ""),
      });
    } else if (req.method === "GET" && path === "/_received") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(received.get(url.searchParams.get("cid") ?? "") ?? []));
      return;
    } else if (req.method === "GET" && path === "/_stats") {
      const app = apps.get(url.searchParams.get("app_id") ?? "");
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ auth_requests: app?.authRequests ?? 0 }));
      return;
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(204).end();
  };

  return async (req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<boolean> => {
    if (!url.pathname.startsWith("/getui/")) return false;
    const path = url.pathname.slice("/getui".length);
    if (path.startsWith("/_")) {
      control(req, res, path, url, body);
      return true;
    }
    const m = /^\/([^/]+)\/(auth|push\/single\/cid)$/.exec(path);
    let input: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(body);
      if (typeof parsed === "object" && parsed !== null) input = parsed as Record<string, unknown>;
    } catch {}
    if (!m?.[1]) envelope(res, 404, 404, "url error");
    else if (req.method !== "POST") envelope(res, 405, 405, "method not supported");
    else if (!input) envelope(res, 200, 1, "request body is not json");
    else if (m[2] === "auth") auth(res, m[1], input);
    else push(req, res, m[1], input);
    return true;
  };
};
