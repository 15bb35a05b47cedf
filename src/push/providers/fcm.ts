/**
 * FCM provider: HTTP v1 `POST {base}/v1/projects/{project_id}/messages:send`, authorised by an OAuth 2
 * access token obtained with the service account's signed JWT (RFC 7523 jwt-bearer grant).
 * https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages ,
 * https://developers.google.com/identity/protocols/oauth2/service-account#httprest
 */
import { importPKCS8, SignJWT } from "jose";
import {
  AuthFailure,
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
  NETWORK_ERROR,
  OK,
  readJson,
  retryAfter,
  type TimeoutEnv,
  timeoutMs,
} from "./http";
import type { FcmCredentials, PushJob, PushProvider, SendResult } from "./types";

const DEFAULT_BASE = "https://fcm.googleapis.com";
const DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token";
export const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
/** An access token is refreshed this long before it expires. */
export const FCM_TOKEN_MARGIN_MS = 5 * 60_000;
/** FCM keeps a message at most 28 days. */
const MAX_TTL_S = 28 * 24 * 3600;

export interface FcmEnv extends TimeoutEnv {
  FCM_ENDPOINT?: string;
  /** The OAuth token URL; also the assertion's `aud`. */
  FCM_TOKEN_ENDPOINT?: string;
}

type ServiceAccount = FcmCredentials["service_account"];

interface AccessToken {
  token: Promise<string>;
  /** Infinity while the token request is in flight, so concurrent sends share it. */
  expiresAt: number;
  privateKey: string;
}

const tokens = new Map<string, AccessToken>();

const fetchAccessToken = async (
  url: string,
  sa: ServiceAccount,
  entry: AccessToken,
  ms: number,
): Promise<string> => {
  let assertion: string;
  try {
    const key = await importPKCS8(sa.private_key, "RS256");
    const now = Math.floor(Date.now() / 1000);
    assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({ alg: "RS256", typ: "JWT" })
      .setIssuer(sa.client_email)
      .setAudience(url)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(key);
  } catch {
    throw new AuthFailure(fail("InvalidPrivateKey"));
  }
  const init = {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }),
  };
  const res = await boundedFetch(url, init, AbortSignal.timeout(ms));
  if (!isResponse(res)) throw new AuthFailure(res);
  const answer = await readJson(res).catch((err: unknown) => {
    throw new AuthFailure(fetchFailure(err));
  });
  if (res.ok && isRecord(answer) && typeof answer.access_token === "string") {
    const ttl = Number(answer.expires_in);
    entry.expiresAt = Date.now() + (Number.isFinite(ttl) ? ttl : 3600) * 1000;
    return answer.access_token;
  }
  const error = isRecord(answer) && typeof answer.error === "string" ? answer.error : `http_${res.status}`;
  if (res.status >= 500 || res.status === 429)
    throw new AuthFailure(later(`oauth:${error}`, retryAfter(res)));
  throw new AuthFailure(fail(`oauth:${error}`));
};

/** The cached access token until shortly before it expires; a new one otherwise or when `stale` is cached. */
const accessToken = (url: string, sa: ServiceAccount, ms: number, stale?: AccessToken): AccessToken => {
  const id = `${url} ${sa.client_email}`;
  const cached = tokens.get(id);
  if (cached && cached !== stale && cached.privateKey === sa.private_key) {
    if (cached.expiresAt - FCM_TOKEN_MARGIN_MS > Date.now()) return cached;
  }
  const entry: AccessToken = {
    token: Promise.resolve(""),
    expiresAt: Number.POSITIVE_INFINITY,
    privateKey: sa.private_key,
  };
  entry.token = fetchAccessToken(url, sa, entry, ms);
  entry.token.catch(() => {
    if (tokens.get(id) === entry) tokens.delete(id);
  });
  tokens.set(id, entry);
  return entry;
};

/** The `messages:send` body: data (`payload` as a JSON string), a notification unless silent. */
export const fcmBody = (job: PushJob, ttlS?: number) => {
  const android: Record<string, string> = { priority: job.silent ? "normal" : "high" };
  if (ttlS !== undefined) android.ttl = `${ttlS}s`;
  if (job.collapseId !== undefined) android.collapse_key = job.collapseId;
  const message: Record<string, unknown> = {
    token: job.deviceToken,
    data: {
      payload: job.payload === undefined ? "{}" : JSON.stringify(job.payload),
      ...(job.msgId === undefined ? {} : { msg_id: job.msgId }),
    },
  };
  if (!job.silent) message.notification = { title: job.title, body: job.body };
  // FCM has no idempotency key: a message sent again after a lost answer is a second message.
  // The tag makes it replace the first in the notification drawer (data carries msg_id to dedupe).
  const tagged = !job.silent && job.msgId !== undefined;
  message.android = tagged ? { ...android, notification: { tag: job.msgId } } : android;
  return { message };
};

interface FcmError {
  status: number;
  /** FcmError.errorCode when given, else google.rpc status ("UNAUTHENTICATED", ...). */
  reason: string;
  tokenInvalid: boolean;
}

const readError = async (res: Response): Promise<FcmError> => {
  const answer = await readJson(res);
  const err = isRecord(answer) && isRecord(answer.error) ? answer.error : {};
  const details = Array.isArray(err.details) ? err.details.filter(isRecord) : [];
  const fcm = details.find((d) => String(d["@type"]).endsWith("google.firebase.fcm.v1.FcmError"));
  const violations = details.flatMap((d) => (Array.isArray(d.fieldViolations) ? d.fieldViolations : []));
  const message = typeof err.message === "string" ? err.message : "";
  const reason =
    (typeof fcm?.errorCode === "string" && fcm.errorCode) ||
    (typeof err.status === "string" && err.status) ||
    `HTTP${res.status}`;
  const tokenInvalid =
    violations.some((v) => isRecord(v) && v.field === "message.token") || /registration token/i.test(message);
  return { status: res.status, reason, tokenInvalid };
};

const TRANSIENT = new Set(["QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL", "RESOURCE_EXHAUSTED"]);

/** FCM's documented errors → what to do with the device and the job. */
export const mapFcmError = ({ status, reason, tokenInvalid }: FcmError, retryAfterS?: number): SendResult => {
  if (status === 404 || reason === "UNREGISTERED" || reason === "SENDER_ID_MISMATCH") return dead(reason);
  if (reason === "INVALID_ARGUMENT" && tokenInvalid) return dead(reason);
  if (status === 429 || status >= 500 || TRANSIENT.has(reason)) return later(reason, retryAfterS);
  return fail(reason);
};

const send = async (env: FcmEnv, job: PushJob, creds: FcmCredentials): Promise<SendResult> => {
  const left = msLeft(job.expiresAt);
  if (left !== undefined && left <= 0) return EXPIRED;
  const sa = creds.service_account;
  const tokenUrl = baseUrl(env.FCM_TOKEN_ENDPOINT, sa.token_uri ?? DEFAULT_TOKEN_URL);
  const base = baseUrl(env.FCM_ENDPOINT, DEFAULT_BASE);
  const url = `${base}/v1/projects/${encodeURIComponent(sa.project_id)}/messages:send`;
  const ttlS = left === undefined ? undefined : Math.min(Math.ceil(left / 1000), MAX_TTL_S);
  const body = JSON.stringify(fcmBody(job, ttlS));
  const ms = timeoutMs(env);
  // One bound for the send requests of this job (token requests have their own).
  const signal = AbortSignal.timeout(ms);

  let entry = accessToken(tokenUrl, sa, ms);
  for (let attempt = 0; ; attempt++) {
    let token: string;
    try {
      token = await entry.token;
    } catch (err) {
      return err instanceof AuthFailure ? err.result : NETWORK_ERROR;
    }
    const headers = { "content-type": "application/json; charset=utf-8", authorization: `Bearer ${token}` };
    const res = await boundedFetch(url, { method: "POST", headers, body }, signal);
    if (!isResponse(res)) return res;
    if (res.ok) {
      await res.body?.cancel();
      return OK;
    }
    const error = await readError(res);
    if (res.status === 401 && error.reason !== "THIRD_PARTY_AUTH_ERROR" && attempt === 0) {
      entry = accessToken(tokenUrl, sa, ms, entry);
      continue;
    }
    return mapFcmError(error, retryAfter(res));
  }
};

/** The FCM provider; hosts come from `env.FCM_ENDPOINT` and `env.FCM_TOKEN_ENDPOINT`. */
export const fcmProvider = (env: FcmEnv): PushProvider<FcmCredentials> => ({
  send: (job, creds) => send(env, job, creds).catch(fetchFailure),
});
