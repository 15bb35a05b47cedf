import { createPublicKey, type KeyObject, randomUUID, verify } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * APNs stand-in (HTTP/1.1; local workerd has no outbound HTTP/2) under `/apns`, speaking Apple's paths,
 * headers, provider-token check and error bodies `{"reason": ...}` (410 adds `timestamp`):
 * https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns
 *
 * Control (tests only):
 * - `POST /apns/_keys {key_id, team_id, public_key_pem, topics?}` registers a signing key (SPKI PEM).
 * - `POST /apns/_tokens {token, state: "unregistered"|"expired"|"bad"|"other-topic"}` marks a device token.
 * - `POST /apns/_fail {token, count, status, reason?, retry_after?}` fails the next `count` pushes to it.
 * - `POST /apns/_expire-jwts {key_id}` makes every provider token seen so far for the key expired.
 * - `GET /apns/_received?token=` accepted pushes; `GET /apns/_attempts?token=` every request, with outcome.
 */
const PUSH_TYPES = new Set(
  "alert background location voip complication fileprovider mdm liveactivity pushtotalk widgets".split(" "),
);
const DEFAULT_REASON: Record<number, string> = {
  400: "BadDeviceToken",
  403: "InvalidProviderToken",
  410: "Unregistered",
  413: "PayloadTooLarge",
  429: "TooManyRequests",
  500: "InternalServerError",
  503: "ServiceUnavailable",
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Key {
  teamId: string;
  publicKey: KeyObject;
  topics?: Set<string>;
}
interface Failure {
  count: number;
  status: number;
  reason: string;
  retryAfter?: number;
}
export interface ApnsAttempt {
  path: string;
  headers: Record<string, string>;
  body: string;
  status: number;
  reason?: string;
}
type Answer = { status: number; reason?: string; retryAfter?: number };

const parseObject = (text: string): Record<string, unknown> | undefined => {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
};
const b64json = (part: string) => parseObject(Buffer.from(part, "base64url").toString("utf8"));

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
};

export const createApnsStandIn = () => {
  const keys = new Map<string, Key>();
  const tokenStates = new Map<string, { state: string; since: number }>();
  const failures = new Map<string, Failure>();
  const seenJwts = new Map<string, Set<string>>();
  const expiredJwts = new Set<string>();
  const attempts = new Map<string, ApnsAttempt[]>();

  /** Apple's provider-token rules: ES256, a known `kid`, `iss` = its team, `iat` within the last hour. */
  const checkJwt = (authorization: string | undefined): Answer | undefined => {
    const m = /^bearer (.+)$/i.exec(authorization ?? "");
    if (!m?.[1]) return { status: 403, reason: "MissingProviderToken" };
    const jwt = m[1];
    const [h = "", p = "", s = ""] = jwt.split(".");
    const header = b64json(h);
    const claims = b64json(p);
    const key = keys.get(String(header?.kid));
    if (!header || !claims || header.alg !== "ES256" || !key)
      return { status: 403, reason: "InvalidProviderToken" };
    const signed = verify(
      "sha256",
      Buffer.from(`${h}.${p}`),
      { key: key.publicKey, dsaEncoding: "ieee-p1363" },
      Buffer.from(s, "base64url"),
    );
    if (!signed || claims.iss !== key.teamId || typeof claims.iat !== "number") {
      return { status: 403, reason: "InvalidProviderToken" };
    }
    const now = Date.now() / 1000;
    if (claims.iat > now + 60) return { status: 403, reason: "InvalidProviderToken" };
    if (expiredJwts.has(jwt) || claims.iat < now - 3600)
      return { status: 403, reason: "ExpiredProviderToken" };
    const seen = seenJwts.get(String(header.kid)) ?? new Set<string>();
    seenJwts.set(String(header.kid), seen.add(jwt));
    return undefined;
  };

  const checkHeaders = (headers: IncomingMessage["headers"], kid: string): Answer | undefined => {
    const topic = headers["apns-topic"];
    if (typeof topic !== "string" || !topic) return { status: 400, reason: "MissingTopic" };
    const allowed = keys.get(kid)?.topics;
    if (allowed && !allowed.has(topic)) return { status: 400, reason: "TopicDisallowed" };
    const type = headers["apns-push-type"];
    if (typeof type !== "string" || !PUSH_TYPES.has(type)) return { status: 400, reason: "InvalidPushType" };
    const priority = headers["apns-priority"];
    if (priority !== undefined && !["1", "5", "10"].includes(String(priority))) {
      return { status: 400, reason: "BadPriority" };
    }
    // Background pushes must be sent with priority 5; alerts default to 10.
    if (type === "background" && priority !== "5") return { status: 400, reason: "BadPriority" };
    const expiration = headers["apns-expiration"];
    if (expiration !== undefined && !/^\d+$/.test(String(expiration))) {
      return { status: 400, reason: "BadExpirationDate" };
    }
    const id = headers["apns-id"];
    if (id !== undefined && !UUID.test(String(id))) return { status: 400, reason: "BadMessageId" };
    const collapse = headers["apns-collapse-id"];
    if (collapse !== undefined && Buffer.byteLength(String(collapse)) > 64) {
      return { status: 400, reason: "BadCollapseId" };
    }
    return undefined;
  };

  /** Size, JSON, and (stricter than Apple, reason `InvalidPayload`) body/push-type agreement. */
  const checkBody = (body: string, type: string): Answer | undefined => {
    if (!body) return { status: 400, reason: "PayloadEmpty" };
    if (Buffer.byteLength(body) > 4096) return { status: 413, reason: "PayloadTooLarge" };
    const aps = parseObject(body)?.aps as Record<string, unknown> | undefined;
    if (!aps || typeof aps !== "object") return { status: 400, reason: "InvalidPayload" };
    if (type === "background" && (aps["content-available"] !== 1 || "alert" in aps || "sound" in aps)) {
      return { status: 400, reason: "InvalidPayload" };
    }
    if (type === "alert" && !aps.alert) return { status: 400, reason: "InvalidPayload" };
    return undefined;
  };

  const checkToken = (token: string): Answer | undefined => {
    if (!/^[0-9a-f]{64,200}$/i.test(token)) return { status: 400, reason: "BadDeviceToken" };
    const mark = tokenStates.get(token);
    if (mark?.state === "bad") return { status: 400, reason: "BadDeviceToken" };
    if (mark?.state === "other-topic") return { status: 400, reason: "DeviceTokenNotForTopic" };
    if (mark?.state === "unregistered") return { status: 410, reason: "Unregistered" };
    if (mark?.state === "expired") return { status: 410, reason: "ExpiredToken" };
    return undefined;
  };

  const push = (req: IncomingMessage, res: ServerResponse, path: string, body: string) => {
    const m = /^\/3\/device\/([^/]+)$/.exec(path);
    const token = decodeURIComponent(m?.[1] ?? "");
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = String(v);
    const apnsId = headers["apns-id"] ?? randomUUID();
    const kid = String(b64json(headers.authorization?.split(" ")[1]?.split(".")[0] ?? "")?.kid);

    const failure = failures.get(token);
    let answer: Answer | undefined;
    if (!m) answer = { status: 404, reason: "BadPath" };
    else if (req.method !== "POST") answer = { status: 405, reason: "MethodNotAllowed" };
    else if (failure && failure.count > 0) {
      failure.count--;
      answer = { status: failure.status, reason: failure.reason, retryAfter: failure.retryAfter };
    } else {
      answer =
        checkJwt(headers.authorization) ??
        checkHeaders(req.headers, kid) ??
        checkBody(body, headers["apns-push-type"] ?? "") ??
        checkToken(token);
    }

    const list = attempts.get(token) ?? [];
    attempts.set(token, list);
    list.push({ path, headers, body, status: answer?.status ?? 200, reason: answer?.reason });
    if (!answer) {
      res.writeHead(200, { "apns-id": apnsId }).end();
      return;
    }
    const extra: Record<string, string> = { "apns-id": apnsId };
    if (answer.retryAfter !== undefined) extra["retry-after"] = String(answer.retryAfter);
    const timestamp = answer.status === 410 ? { timestamp: tokenStates.get(token)?.since ?? Date.now() } : {};
    json(res, answer.status, { reason: answer.reason, ...timestamp }, extra);
  };

  const control = (req: IncomingMessage, res: ServerResponse, path: string, url: URL, body: string) => {
    const input = (req.method === "POST" ? JSON.parse(body || "{}") : {}) as Record<string, unknown>;
    const token = url.searchParams.get("token") ?? "";
    if (req.method === "POST" && path === "/_keys") {
      const publicKey = createPublicKey(String(input.public_key_pem));
      if (publicKey.asymmetricKeyType !== "ec") throw new Error("APNs keys are EC P-256");
      const topics = Array.isArray(input.topics) ? new Set(input.topics.map(String)) : undefined;
      keys.set(String(input.key_id), { teamId: String(input.team_id), publicKey, topics });
    } else if (req.method === "POST" && path === "/_tokens") {
      tokenStates.set(String(input.token), { state: String(input.state), since: Date.now() - 1000 });
    } else if (req.method === "POST" && path === "/_fail") {
      const status = Number(input.status ?? 503);
      const reason = String(input.reason ?? DEFAULT_REASON[status] ?? "InternalServerError");
      const retryAfter = input.retry_after === undefined ? undefined : Number(input.retry_after);
      failures.set(String(input.token), { count: Number(input.count ?? 1), status, reason, retryAfter });
    } else if (req.method === "POST" && path === "/_expire-jwts") {
      for (const jwt of seenJwts.get(String(input.key_id)) ?? []) expiredJwts.add(jwt);
    } else if (req.method === "GET" && path === "/_received") {
      json(
        res,
        200,
        (attempts.get(token) ?? []).filter((a) => a.status === 200),
      );
      return;
    } else if (req.method === "GET" && path === "/_attempts") {
      json(res, 200, attempts.get(token) ?? []);
      return;
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(204).end();
  };

  return async (req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<boolean> => {
    if (!url.pathname.startsWith("/apns/")) return false;
    const path = url.pathname.slice("/apns".length);
    if (path.startsWith("/_")) control(req, res, path, url, body);
    else push(req, res, path, body);
    return true;
  };
};
