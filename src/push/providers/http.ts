/** Small helpers the three providers share: result constructors, Retry-After, expiry, base URLs. */
import type { SendResult } from "./types";

export const OK: SendResult = Object.freeze({ ok: true });

/** The provider already had this request (its id is stable per task and target) and dropped the copy. */
export const ALREADY_ACCEPTED: SendResult = Object.freeze({ ok: true, duplicate: true });

export const fail = (reason: string): SendResult => ({
  ok: false,
  reason,
  removeDevice: false,
  retry: false,
});
export const dead = (reason: string): SendResult => ({ ok: false, reason, removeDevice: true, retry: false });
export const later = (reason: string, retryAfterS?: number): SendResult =>
  retryAfterS === undefined
    ? { ok: false, reason, removeDevice: false, retry: true }
    : { ok: false, reason, removeDevice: false, retry: true, retryAfterS };

/** A failed `fetch` (DNS, TLS, connection reset): always worth another try. */
export const NETWORK_ERROR: SendResult = Object.freeze(later("NetworkError"));

/** The job expired before it could be sent: nothing to send, nothing to retry. */
export const EXPIRED: SendResult = Object.freeze(fail("Expired"));

/** `Retry-After` as seconds (delta-seconds or an HTTP date), undefined when absent or unreadable. */
export const retryAfter = (res: Response, now = Date.now()): number | undefined => {
  const value = res.headers.get("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
};

/** Milliseconds left before `expiresAt`; undefined without an expiry; <= 0 when already past. */
export const msLeft = (expiresAt: number | undefined, now = Date.now()): number | undefined =>
  expiresAt === undefined ? undefined : expiresAt - now;

/** `value` without trailing slashes, or `fallback` when `value` is empty or unset. */
export const baseUrl = (value: string | undefined, fallback: string): string =>
  (value?.trim() || fallback).replace(/\/+$/, "");

/** Reads a JSON body, or undefined when the body is not JSON (gateways answer HTML or text). */
export const readJson = async (res: Response): Promise<unknown> => {
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A failed token request (OAuth, Getui auth), already mapped to what the push should answer. */
export class AuthFailure extends Error {
  constructor(readonly result: SendResult) {
    super("provider authentication failed");
  }
}

/** No answer within the provider timeout: worth another try (the request may have been taken). */
export const TIMEOUT: SendResult = Object.freeze(later("Timeout"));

/** Provider calls (pushes and their token endpoints) give up after this long unless `PROVIDER_TIMEOUT_MS` says otherwise. */
export const DEFAULT_TIMEOUT_MS = 10_000;

export interface TimeoutEnv {
  /** Milliseconds every provider request (and token request) may take; default 10 s. */
  PROVIDER_TIMEOUT_MS?: string;
}

/** The provider timeout in milliseconds (`PROVIDER_TIMEOUT_MS`, else 10 s). */
export const timeoutMs = (env: TimeoutEnv): number => {
  const n = Number(env.PROVIDER_TIMEOUT_MS);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_TIMEOUT_MS;
};

/** What a `fetch` that threw means: Timeout when its signal timed out, NetworkError otherwise. */
export const fetchFailure = (err: unknown): SendResult =>
  err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")
    ? TIMEOUT
    : NETWORK_ERROR;

/**
 * `fetch` bounded by `signal`: the response, or the SendResult of its failure. The body is read
 * under the same signal, so a provider that sends headers and then stalls times out too.
 */
export const boundedFetch = (url: string, init: RequestInit, signal: AbortSignal) =>
  fetch(url, { ...init, signal }).then(
    (res): Response | SendResult => res,
    (err: unknown) => fetchFailure(err),
  );

export const isResponse = (v: Response | SendResult): v is Response => v instanceof Response;
