/**
 * Getui provider: REST API v2. `POST {base}/{app_id}/auth` for a token (valid one day), then
 * `POST {base}/{app_id}/push/single/cid` with header `token`.
 * https://docs.getui.com/getui/server/rest_v2/token , .../rest_v2/push , .../rest_v2/code
 */
import { sha256Hex } from "../../lib/crypto";
import {
  ALREADY_ACCEPTED,
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
import type { GetuiCredentials, PushJob, PushProvider, SendResult } from "./types";

const DEFAULT_BASE = "https://restapi.getui.com/v2";
/** A token is refreshed this long before its `expire_time`. */
export const GETUI_TOKEN_MARGIN_MS = 5 * 60_000;
/** `settings.ttl` bounds (ms): Getui keeps offline messages at most 3 days; 2 hours is its default. */
const MAX_TTL_MS = 3 * 24 * 3600_000;
const DEFAULT_TTL_MS = 2 * 3600_000;
/** Per-minute call limits (10003 auth, 10005 API): wait out the minute. */
const RATE_LIMITED = new Set([10003, 10005]);

export interface GetuiEnv extends TimeoutEnv {
  /** Base URL up to and including `/v2` (CONTRACT §5). */
  GETUI_ENDPOINT?: string;
}

interface AuthToken {
  token: Promise<string>;
  /** Infinity while the auth call is in flight, so concurrent sends share it. */
  expiresAt: number;
  secret: string;
}

const tokens = new Map<string, AuthToken>();

const fetchToken = async (
  base: string,
  creds: GetuiCredentials,
  entry: AuthToken,
  ms: number,
): Promise<string> => {
  const timestamp = String(Date.now());
  const sign = await sha256Hex(creds.app_key + timestamp + creds.master_secret);
  const signal = AbortSignal.timeout(ms);
  const init = {
    method: "POST",
    headers: { "content-type": "application/json;charset=utf-8" },
    body: JSON.stringify({ sign, timestamp, appkey: creds.app_key }),
  };
  const res = await boundedFetch(`${base}/${encodeURIComponent(creds.app_id)}/auth`, init, signal);
  if (!isResponse(res)) throw new AuthFailure(res);
  const answer = await readJson(res).catch((err: unknown) => {
    throw new AuthFailure(fetchFailure(err));
  });
  const code = isRecord(answer) && typeof answer.code === "number" ? answer.code : undefined;
  const data = isRecord(answer) && isRecord(answer.data) ? answer.data : undefined;
  if (code === 0 && typeof data?.token === "string") {
    const expire = Number(data.expire_time);
    entry.expiresAt = Number.isFinite(expire) ? expire : Date.now() + 3600_000;
    return data.token;
  }
  if (code === undefined || res.status >= 500) throw new AuthFailure(later(`getui:http_${res.status}`));
  if (RATE_LIMITED.has(code)) throw new AuthFailure(later(`getui:${code}`, retryAfter(res) ?? 60));
  throw new AuthFailure(fail(`getui:${code}`));
};

/** The cached token until shortly before `expire_time`; a new one otherwise or when `stale` is cached. */
const authToken = (base: string, creds: GetuiCredentials, ms: number, stale?: AuthToken): AuthToken => {
  const id = `${base} ${creds.app_id} ${creds.app_key}`;
  const secret = creds.master_secret;
  const cached = tokens.get(id);
  if (cached && cached !== stale && cached.secret === secret) {
    if (cached.expiresAt - GETUI_TOKEN_MARGIN_MS > Date.now()) return cached;
  }
  const entry: AuthToken = { token: Promise.resolve(""), expiresAt: Number.POSITIVE_INFINITY, secret };
  entry.token = fetchToken(base, creds, entry, ms);
  entry.token.catch(() => {
    if (tokens.get(id) === entry) tokens.delete(id);
  });
  tokens.set(id, entry);
  return entry;
};

/** The app's data as Getui carries it (a string), with `msg_id` as a key of the JSON object. */
function json(payload: unknown, msgId?: string): string {
  if (msgId === undefined) return payload === undefined ? "{}" : JSON.stringify(payload);
  if (payload === undefined || payload === null) return JSON.stringify({ msg_id: msgId });
  if (isRecord(payload)) return JSON.stringify({ ...payload, msg_id: msgId });
  return JSON.stringify({ payload, msg_id: msgId });
}

/** The `push/single/cid` body: a notification opening the app with `payload`, or a transmission. */
export const getuiBody = (job: PushJob, ttl: number) => ({
  request_id: job.pushId.replace(/-/g, ""),
  settings: { ttl },
  audience: { cid: [job.deviceToken] },
  push_message: job.silent
    ? { transmission: json(job.payload, job.msgId) }
    : {
        notification: {
          title: job.title ?? "",
          // Getui requires a body: a title-only notification shows its title.
          body: job.body ?? job.title ?? "",
          click_type: "payload",
          payload: json(job.payload, job.msgId),
        },
      },
});

/** Getui's answer to a request_id it has seen (https://docs.getui.com/getui/server/rest_v2/push). */
const REPEATED_REQUEST = /request_id cannot be repeat/i;

/** Getui's business codes → what to do with the device and the job. */
export const mapGetuiError = (status: number, code: number, msg: string, retryAfterS?: number) => {
  if (code === 20001 && /target user is invalid/i.test(msg)) return dead(`getui:${code}`);
  if (RATE_LIMITED.has(code)) return later(`getui:${code}`, retryAfterS ?? 60);
  if (code === 2 || status >= 500) return later(`getui:${code}`, retryAfterS);
  return fail(`getui:${code}`);
};

const send = async (env: GetuiEnv, job: PushJob, creds: GetuiCredentials): Promise<SendResult> => {
  const left = msLeft(job.expiresAt);
  if (left !== undefined && left <= 0) return EXPIRED;
  const base = baseUrl(env.GETUI_ENDPOINT, DEFAULT_BASE);
  const body = JSON.stringify(getuiBody(job, Math.min(left ?? DEFAULT_TTL_MS, MAX_TTL_MS)));
  const url = `${base}/${encodeURIComponent(creds.app_id)}/push/single/cid`;
  const ms = timeoutMs(env);
  // One bound for the push requests of this send (the auth call has its own).
  const signal = AbortSignal.timeout(ms);

  let entry = authToken(base, creds, ms);
  for (let attempt = 0; ; attempt++) {
    let token: string;
    try {
      token = await entry.token;
    } catch (err) {
      return err instanceof AuthFailure ? err.result : NETWORK_ERROR;
    }
    const init = {
      method: "POST",
      headers: { "content-type": "application/json;charset=utf-8", token },
      body,
    };
    const res = await boundedFetch(url, init, signal);
    if (!isResponse(res)) return res;
    const answer = await readJson(res);
    const code = isRecord(answer) && typeof answer.code === "number" ? answer.code : undefined;
    if (code === undefined) {
      return res.status >= 500 || res.status === 429
        ? later(`getui:http_${res.status}`, retryAfter(res))
        : fail(`getui:http_${res.status}`);
    }
    if (code === 0) return OK;
    if (code === 10001 && attempt === 0) {
      entry = authToken(base, creds, ms, entry);
      continue;
    }
    const msg = isRecord(answer) && typeof answer.msg === "string" ? answer.msg : "";
    // The request_id is stable per task and target: Getui has it already, from an attempt whose
    // answer was lost, and drops the copy.
    if (code === 20001 && REPEATED_REQUEST.test(msg)) return ALREADY_ACCEPTED;
    return mapGetuiError(res.status, code, msg, retryAfter(res));
  }
};

/** The Getui provider; the base URL comes from `env.GETUI_ENDPOINT`. */
export const getuiProvider = (env: GetuiEnv): PushProvider<GetuiCredentials> => ({
  send: (job, creds) => send(env, job, creds).catch(fetchFailure),
});
