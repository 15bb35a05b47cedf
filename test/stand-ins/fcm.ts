import { createPublicKey, type KeyObject, randomBytes, verify } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * FCM HTTP v1 stand-in: Google's OAuth token endpoint at `/fcm-token` (jwt-bearer grant, RS256
 * assertion) and `POST /fcm/v1/projects/{project}/messages:send`, with Google's error bodies
 * `{"error": {code, message, status, details: [FcmError, BadRequest]}}`.
 *
 * Control (tests only):
 * - `POST /fcm/_accounts {client_email, public_key_pem, project_id, token_ttl_s?}` registers a service account.
 * - `POST /fcm/_revoke {client_email}` revokes every access token issued to it (next send: 401).
 * - `POST /fcm/_tokens {token, state: "unregistered"|"invalid"|"sender-mismatch"}` marks a registration token.
 * - `POST /fcm/_fail {token, count, status: 401|429|500|503, retry_after?}` fails the next sends to it.
 * - `GET /fcm/_received?token=` accepted messages; `GET /fcm/_stats?client_email=` `{token_requests}`.
 */
const SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError";
const MESSAGE_FIELDS = new Set(["name", "data", "notification", "android", "webpush", "apns", "fcm_options"]);
const TARGETS = ["token", "topic", "condition"];
const ANDROID_FIELDS = new Set(["collapse_key", "priority", "ttl", "restricted_package_name", "data"]);
const ANDROID_FIELDS_MORE = new Set(["notification", "fcm_options", "direct_boot_ok"]);
const STATUS: Record<number, [string, string | undefined, string]> = {
  401: ["UNAUTHENTICATED", undefined, "Request had invalid authentication credentials."],
  429: ["RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for quota metric 'Send messages'."],
  500: ["INTERNAL", "INTERNAL", "Internal error encountered."],
  503: ["UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."],
};

interface Account {
  publicKey: KeyObject;
  projectId: string;
  tokenTtlS: number;
  tokenRequests: number;
}
export interface FcmMessage {
  path: string;
  headers: Record<string, string>;
  body: string;
}

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
const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers });
  res.end(JSON.stringify(body));
};
const googleError = (status: number, rpc: string, message: string, fcm?: string, extra: unknown[] = []) => ({
  error: {
    code: status,
    message,
    status: rpc,
    ...(fcm || extra.length
      ? { details: [...(fcm ? [{ "@type": FCM_ERROR, errorCode: fcm }] : []), ...extra] }
      : {}),
  },
});
const invalidArgument = (message: string, field?: string) =>
  googleError(
    400,
    "INVALID_ARGUMENT",
    message,
    "INVALID_ARGUMENT",
    field
      ? [
          {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            fieldViolations: [{ field, description: message }],
          },
        ]
      : [],
  );

/** The first way `message` breaks the v1 schema or FCM's limits, as a 400 INVALID_ARGUMENT body. */
const invalidMessage = (message: Record<string, unknown>) => {
  for (const k of Object.keys(message)) {
    if (!MESSAGE_FIELDS.has(k) && !TARGETS.includes(k)) {
      return invalidArgument(
        `Invalid JSON payload received. Unknown name "${k}" at 'message': Cannot find field.`,
      );
    }
  }
  if (TARGETS.filter((t) => message[t] !== undefined).length !== 1) {
    return invalidArgument("Exactly one of token, topic or condition must be set.", "message");
  }
  const data = (message.data ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(data)) {
    if (typeof v !== "string")
      return invalidArgument(`Invalid value at 'message.data[${k}].value' (TYPE_STRING)`);
  }
  const android = (message.android ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(android)) {
    if (!ANDROID_FIELDS.has(k) && !ANDROID_FIELDS_MORE.has(k)) {
      return invalidArgument(`Invalid JSON payload received. Unknown name "${k}" at 'message.android'.`);
    }
  }
  const priority = android.priority;
  if (priority !== undefined && !/^(normal|high)$/i.test(String(priority))) {
    return invalidArgument(
      `Invalid value at 'message.android.priority' (AndroidMessagePriority), "${priority}"`,
    );
  }
  const ttl = android.ttl;
  if (
    ttl !== undefined &&
    (!/^\d+(\.\d{1,9})?s$/.test(String(ttl)) || Number.parseFloat(String(ttl)) > 2419200)
  ) {
    return invalidArgument(
      "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration)",
    );
  }
  const size = Buffer.byteLength(JSON.stringify({ data: message.data, notification: message.notification }));
  if (size > 4096) return invalidArgument("Android message is too big", "message");
  return undefined;
};

export const createFcmStandIn = () => {
  const accounts = new Map<string, Account>();
  const accessTokens = new Map<string, { email: string; scope: string; expiresAt: number }>();
  const marked = new Map<string, string>();
  const failures = new Map<string, { count: number; status: number; retryAfter?: number }>();
  const received = new Map<string, FcmMessage[]>();

  /** Google's token endpoint: verifies the RS256 assertion and its claims, issues a bearer token. */
  const token = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const form = new URLSearchParams(body);
    const invalidGrant = (description: string) =>
      send(res, 400, { error: "invalid_grant", error_description: description });
    if (form.get("grant_type") !== GRANT) {
      return send(res, 400, { error: "unsupported_grant_type", error_description: "Invalid grant_type" });
    }
    const [h = "", p = "", s = ""] = (form.get("assertion") ?? "").split(".");
    const header = parseObject(Buffer.from(h, "base64url").toString("utf8"));
    const claims = parseObject(Buffer.from(p, "base64url").toString("utf8"));
    const account = accounts.get(String(claims?.iss));
    if (!header || !claims || header.alg !== "RS256") return invalidGrant("Invalid JWT Signature.");
    if (!account) return invalidGrant("Invalid grant: account not found");
    account.tokenRequests++;
    if (!verify("sha256", Buffer.from(`${h}.${p}`), account.publicKey, Buffer.from(s, "base64url"))) {
      return invalidGrant("Invalid JWT Signature.");
    }
    if (claims.aud !== `http://${req.headers.host}/fcm-token`)
      return invalidGrant("Invalid JWT: aud is wrong");
    const now = Date.now() / 1000;
    const { iat, exp } = claims as { iat?: number; exp?: number };
    if (
      typeof iat !== "number" ||
      typeof exp !== "number" ||
      exp - iat > 3600 ||
      exp < now ||
      iat > now + 300
    ) {
      return invalidGrant(
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
      );
    }
    const accessToken = `ya29.${randomBytes(32).toString("base64url")}`;
    const scope = String(claims.scope ?? "");
    accessTokens.set(accessToken, {
      email: String(claims.iss),
      scope,
      expiresAt: Date.now() + account.tokenTtlS * 1000,
    });
    send(res, 200, { access_token: accessToken, expires_in: account.tokenTtlS, token_type: "Bearer" });
  };

  const messagesSend = (req: IncomingMessage, res: ServerResponse, project: string, body: string) => {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
    const issued = accessTokens.get(bearer);
    if (!issued || issued.expiresAt <= Date.now()) {
      return send(
        res,
        401,
        googleError(
          401,
          "UNAUTHENTICATED",
          "Request had invalid authentication credentials. Expected OAuth 2 access token.",
        ),
      );
    }
    if (!issued.scope.split(" ").includes(SCOPE)) {
      return send(
        res,
        403,
        googleError(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes."),
      );
    }
    if (accounts.get(issued.email)?.projectId !== project) {
      const message = `Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/${project}' (or it may not exist).`;
      return send(res, 403, googleError(403, "PERMISSION_DENIED", message));
    }
    const message = parseObject(body)?.message;
    if (typeof message !== "object" || message === null) {
      return send(res, 400, invalidArgument("Invalid JSON payload received.", "message"));
    }
    const msg = message as Record<string, unknown>;
    const invalid = invalidMessage(msg);
    if (invalid) return send(res, 400, invalid);
    const target = String(msg.token ?? "");
    const failure = failures.get(target);
    if (failure && failure.count > 0) {
      failure.count--;
      const [rpc, fcm, text] = STATUS[failure.status] ?? ["UNAVAILABLE", "UNAVAILABLE", "Unavailable"];
      const headers: Record<string, string> = failure.retryAfter
        ? { "retry-after": String(failure.retryAfter) }
        : {};
      return send(res, failure.status, googleError(failure.status, rpc, text, fcm), headers);
    }
    const state = marked.get(target);
    if (state === "unregistered") {
      return send(res, 404, googleError(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"));
    }
    if (state === "invalid" || (target && target.length < 20)) {
      return send(
        res,
        400,
        invalidArgument("The registration token is not a valid FCM registration token", "message.token"),
      );
    }
    if (state === "sender-mismatch") {
      return send(res, 403, googleError(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"));
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = String(v);
    const list = received.get(target) ?? [];
    received.set(target, list);
    list.push({ path: `/v1/projects/${project}/messages:send`, headers, body });
    send(res, 200, {
      name: `projects/${project}/messages/0:${Date.now()}%${randomBytes(8).toString("hex")}`,
    });
  };

  const control = (req: IncomingMessage, res: ServerResponse, path: string, url: URL, body: string) => {
    const input = (req.method === "POST" ? JSON.parse(body || "{}") : {}) as Record<string, unknown>;
    if (req.method === "POST" && path === "/_accounts") {
      const publicKey = createPublicKey(String(input.public_key_pem));
      if (publicKey.asymmetricKeyType !== "rsa") throw new Error("service-account keys are RSA");
      accounts.set(String(input.client_email), {
        publicKey,
        projectId: String(input.project_id),
        tokenTtlS: Number(input.token_ttl_s ?? 3599),
        tokenRequests: 0,
      });
    } else if (req.method === "POST" && path === "/_revoke") {
      for (const t of accessTokens.values()) if (t.email === input.client_email) t.expiresAt = 0;
    } else if (req.method === "POST" && path === "/_tokens") {
      marked.set(String(input.token), String(input.state));
    } else if (req.method === "POST" && path === "/_fail") {
      const retryAfter = input.retry_after === undefined ? undefined : Number(input.retry_after);
      failures.set(String(input.token), {
        count: Number(input.count ?? 1),
        status: Number(input.status ?? 503),
        retryAfter,
      });
    } else if (req.method === "GET" && path === "/_received") {
      return send(res, 200, received.get(url.searchParams.get("token") ?? "") ?? []);
    } else if (req.method === "GET" && path === "/_stats") {
      const account = accounts.get(url.searchParams.get("client_email") ?? "");
      return send(res, 200, { token_requests: account?.tokenRequests ?? 0 });
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(204).end();
  };

  return async (req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<boolean> => {
    if (url.pathname === "/fcm-token") {
      if (req.method === "POST") token(req, res, body);
      else res.writeHead(405).end();
      return true;
    }
    if (!url.pathname.startsWith("/fcm/")) return false;
    const path = url.pathname.slice("/fcm".length);
    const m = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(path);
    if (path.startsWith("/_")) control(req, res, path, url, body);
    else if (m?.[1] && req.method === "POST") messagesSend(req, res, decodeURIComponent(m[1]), body);
    else send(res, 404, googleError(404, "NOT_FOUND", "Not Found"));
    return true;
  };
};
