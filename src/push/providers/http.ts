/** Small helpers the three providers share: result constructors, Retry-After, expiry, base URLs. */
import type { SendResult } from "./types";

export const OK: SendResult = Object.freeze({ ok: true });

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
