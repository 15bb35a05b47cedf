import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppError } from "../errors";

/** The largest body each surface reads; uploads set their own (2 MB and the multipart overhead). */
export const BODY_LIMITS = {
  /** listcast: 500 tokens of up to 256 characters, plus a 4 KiB payload. */
  psp: 256 * 1024,
  /** the largest admin body is an FCM service account (about 2.5 KiB). */
  admin: 64 * 1024,
  technician: 64 * 1024,
} as const;

/**
 * Refuses a body over `maxSize` bytes, from its Content-Length or while it streams, before any
 * handler reads it; `fail` is the surface's own error, answered in its own envelope.
 */
export function limitBody(maxSize: number, fail: (maxSize: number) => AppError): MiddlewareHandler {
  return bodyLimit({ maxSize, onError: () => Promise.reject(fail(maxSize)) });
}
