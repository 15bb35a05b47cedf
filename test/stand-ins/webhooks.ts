import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * A partner's webhook receiver (CONTRACT §2 "Delivery truth") under `/hooks/<id>`: checks
 * `X-Signature = hex(HMAC-SHA256(app_master_secret, X-Timestamp + "." + body))` with the secret
 * registered for `<id>`, and records every delivery it accepted.
 *
 * Control (tests only):
 * - `POST /hooks/_receivers {id, secret}` registers a receiver.
 * - `POST /hooks/_fail {id, count, status?}` answers the next `count` deliveries with `status` (503).
 * - `GET /hooks/_received?id=` `{attempts, refused, deliveries: [{timestamp, events}]}`: every
 *   attempt counted, signature failures (401) counted as refused, accepted bodies in order.
 */
type Receiver = {
  secret: string;
  fail: { count: number; status: number };
  attempts: number;
  refused: number;
  deliveries: { timestamp: string; events: unknown[] }[];
};

function validSignature(secret: string, timestamp: string, body: string, signature: string): boolean {
  const expected = createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
  return (
    signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected))
  );
}

export const createWebhookStandIn = () => {
  const receivers = new Map<string, Receiver>();

  const json = (res: ServerResponse, status: number, value: unknown) =>
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));

  return async (req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<boolean> => {
    if (!url.pathname.startsWith("/hooks/")) return false;
    const path = url.pathname.slice("/hooks".length);
    if (req.method === "POST" && path === "/_receivers") {
      const { id, secret } = JSON.parse(body) as { id: string; secret: string };
      receivers.set(id, { secret, fail: { count: 0, status: 503 }, attempts: 0, refused: 0, deliveries: [] });
      res.writeHead(204).end();
      return true;
    }
    if (req.method === "POST" && path === "/_fail") {
      const { id, count, status } = JSON.parse(body) as { id: string; count: number; status?: number };
      const r = receivers.get(id);
      if (r) r.fail = { count, status: status ?? 503 };
      res.writeHead(r ? 204 : 404).end();
      return true;
    }
    if (req.method === "GET" && path === "/_received") {
      const r = receivers.get(url.searchParams.get("id") ?? "");
      json(res, 200, r ? { attempts: r.attempts, refused: r.refused, deliveries: r.deliveries } : {});
      return true;
    }
    const r = receivers.get(path.slice(1));
    if (req.method !== "POST" || !r) {
      res.writeHead(404).end();
      return true;
    }
    r.attempts += 1;
    const timestamp = String(req.headers["x-timestamp"] ?? "");
    const signature = String(req.headers["x-signature"] ?? "");
    if (!/^\d+$/.test(timestamp) || !validSignature(r.secret, timestamp, body, signature)) {
      r.refused += 1;
      json(res, 401, { error: "bad signature" });
      return true;
    }
    if (r.fail.count > 0) {
      r.fail.count -= 1;
      res.writeHead(r.fail.status).end("unavailable");
      return true;
    }
    const parsed = JSON.parse(body) as { events: unknown[] };
    r.deliveries.push({ timestamp, events: parsed.events });
    json(res, 200, { ok: true });
    return true;
  };
};
