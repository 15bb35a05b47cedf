/**
 * APNs provider: HTTP/2 API `POST /3/device/<token>` with token-based authentication.
 * https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns
 */
import { importPKCS8, SignJWT } from "jose";
import {
  baseUrl,
  boundedFetch,
  dead,
  EXPIRED,
  fail,
  fetchFailure,
  isRecord,
  isResponse,
  later,
  msLeft,
  OK,
  readJson,
  retryAfter,
  type TimeoutEnv,
  timeoutMs,
} from "./http";
import type { ApnsCredentials, PushJob, PushProvider, SendResult } from "./types";

const PRODUCTION = "https://api.push.apple.com";
const SANDBOX = "https://api.sandbox.push.apple.com";

/**
 * Apple wants the provider token refreshed no more than once every 20 minutes and no less than once
 * every 60 minutes; it is re-signed after 50.
 */
export const APNS_JWT_MAX_AGE_MS = 50 * 60_000;

export interface ApnsEnv extends TimeoutEnv {
  /** When set, the host for sandbox and production apps alike (CONTRACT §5). */
  APNS_ENDPOINT?: string;
}

interface ProviderToken {
  jwt: Promise<string>;
  issuedAt: number;
  privateKey: string;
}

/** One provider token per (team, key) and isolate, shared by every push of every app using the key. */
const tokens = new Map<string, ProviderToken>();

const signToken = async (creds: ApnsCredentials): Promise<string> => {
  const key = await importPKCS8(creds.private_key, "ES256");
  return new SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid: creds.key_id })
    .setIssuer(creds.team_id)
    .setIssuedAt()
    .sign(key);
};

/**
 * The cached provider token while it is younger than 50 minutes; a fresh one otherwise, or when
 * `stale` (the token APNs just refused) is still the cached one.
 */
const providerToken = (creds: ApnsCredentials, stale?: ProviderToken): ProviderToken => {
  const id = `${creds.team_id}:${creds.key_id}`;
  const cached = tokens.get(id);
  const now = Date.now();
  if (cached && cached !== stale && cached.privateKey === creds.private_key) {
    const age = now - cached.issuedAt;
    if (age >= 0 && age < APNS_JWT_MAX_AGE_MS) return cached;
  }
  const entry: ProviderToken = { jwt: signToken(creds), issuedAt: now, privateKey: creds.private_key };
  entry.jwt.catch(() => {
    if (tokens.get(id) === entry) tokens.delete(id);
  });
  tokens.set(id, entry);
  return entry;
};

const forgetToken = (creds: ApnsCredentials, entry: ProviderToken) => {
  const id = `${creds.team_id}:${creds.key_id}`;
  if (tokens.get(id) === entry) tokens.delete(id);
};

/** The app's data beside `aps`: an object's own keys (its `aps` never wins), anything else as `payload`. */
const customData = (payload: unknown): Record<string, unknown> => {
  if (payload === undefined || payload === null) return {};
  if (!isRecord(payload)) return { payload };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(payload)) if (k !== "aps") out[k] = v;
  return out;
};

/** The notification body: `{"aps": {...}, ...custom data, "msg_id"}`. */
export const apnsBody = (job: PushJob): string => {
  const aps = job.silent
    ? { "content-available": 1 }
    : { alert: { title: job.title, body: job.body }, sound: "default" };
  const msgId = job.msgId === undefined ? {} : { msg_id: job.msgId };
  return JSON.stringify({ aps, ...customData(job.payload), ...msgId });
};

const DEVICE_GONE = new Set(["Unregistered", "ExpiredToken", "BadDeviceToken", "DeviceTokenNotForTopic"]);
const TRANSIENT = new Set([
  "TooManyRequests",
  "TooManyProviderTokenUpdates",
  "InternalServerError",
  "ServiceUnavailable",
  "Shutdown",
  "IdleTimeout",
]);
const STATUS_REASON: Record<number, string> = {
  429: "TooManyRequests",
  500: "InternalServerError",
  503: "ServiceUnavailable",
};

/** Apple's documented reasons → what to do with the device and the job. */
export const mapApnsError = (status: number, reason: string, retryAfterS?: number): SendResult => {
  if (status === 410 || DEVICE_GONE.has(reason)) return dead(reason);
  if (status === 429 || status >= 500 || TRANSIENT.has(reason)) return later(reason, retryAfterS);
  return fail(reason);
};

/** APNs wants a collapse id of at most 64 bytes. */
const MAX_COLLAPSE_ID = 64;

/**
 * `apns-collapse-id`: the job's own, else its msg_id, so that a push sent again after a lost
 * answer shows as one notification on the device.
 */
const collapseIdOf = (job: PushJob): string | undefined => {
  if (job.collapseId !== undefined) return job.collapseId;
  const id = job.msgId;
  return id !== undefined && new TextEncoder().encode(id).length <= MAX_COLLAPSE_ID ? id : undefined;
};

const send = async (env: ApnsEnv, job: PushJob, creds: ApnsCredentials): Promise<SendResult> => {
  const left = msLeft(job.expiresAt);
  if (left !== undefined && left <= 0) return EXPIRED;
  const host = baseUrl(env.APNS_ENDPOINT, creds.environment === "production" ? PRODUCTION : SANDBOX);
  const url = `${host}/3/device/${encodeURIComponent(job.deviceToken)}`;
  const body = apnsBody(job);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "apns-topic": creds.topic,
    "apns-push-type": job.silent ? "background" : "alert",
    "apns-priority": job.silent ? "5" : "10",
    "apns-expiration": job.expiresAt === undefined ? "0" : String(Math.floor(job.expiresAt / 1000)),
    "apns-id": job.pushId,
  };
  const collapseId = collapseIdOf(job);
  if (collapseId !== undefined) headers["apns-collapse-id"] = collapseId;
  // One bound for the whole send, the retry with a fresh provider token included.
  const signal = AbortSignal.timeout(timeoutMs(env));

  let token = providerToken(creds);
  for (let attempt = 0; ; attempt++) {
    let jwt: string;
    try {
      jwt = await token.jwt;
    } catch {
      return fail("InvalidPrivateKey");
    }
    const init = { method: "POST", headers: { ...headers, authorization: `bearer ${jwt}` }, body };
    const res = await boundedFetch(url, init, signal);
    if (!isResponse(res)) return res;
    if (res.status === 200) {
      await res.body?.cancel();
      return OK;
    }
    const answer = await readJson(res);
    const reason =
      isRecord(answer) && typeof answer.reason === "string"
        ? answer.reason
        : (STATUS_REASON[res.status] ?? `HTTP${res.status}`);
    if (reason === "ExpiredProviderToken" && attempt === 0) {
      token = providerToken(creds, token);
      continue;
    }
    if (reason === "InvalidProviderToken" || reason === "ExpiredProviderToken") forgetToken(creds, token);
    return mapApnsError(res.status, reason, retryAfter(res));
  }
};

/** The APNs provider; the host comes from `env.APNS_ENDPOINT` or the app's environment. */
export const apnsProvider = (env: ApnsEnv): PushProvider<ApnsCredentials> => ({
  // A body that stalls past the timeout rejects its read: a Timeout too.
  send: (job, creds) => send(env, job, creds).catch(fetchFailure),
});
