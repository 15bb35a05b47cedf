import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * The only thing route and service code throws on purpose. Each API surface turns it into its
 * own envelope in one `onError` (see src/http/envelopes.ts).
 *
 * - `code`: the surface's error code (psp: a number from CONTRACT §2; technician uploads and
 *   location: seed 001's `error` string; admin: a snake_case string).
 * - `envelope`: for the technician surface, whether the answer uses the account envelope
 *   `{status, message}` or the upload / location envelope `{result, message, error, data}`.
 */
export class AppError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string | number,
    message: string,
    readonly options: { envelope?: "account" | "result"; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = "AppError";
  }
}

/** A technician account-call failure: `{"status": false, "message": ...}` with HTTP 200 (seed 001). */
export const accountFail = (message: string, status: ContentfulStatusCode = 200) =>
  new AppError(status, "ACCOUNT", message, { envelope: "account" });

/** An upload / location failure: `{"result": false, "message", "error", "data": null}` (seed 001). */
export const resultFail = (error: string, message: string, status: ContentfulStatusCode = 200) =>
  new AppError(status, error, message, { envelope: "result" });

/** A partner API failure in seed 003's envelope. */
export const pspFail = (status: ContentfulStatusCode, code: number, message: string) =>
  new AppError(status, code, message);

/** An admin API failure. */
export const adminFail = (status: ContentfulStatusCode, code: string, message: string) =>
  new AppError(status, code, message);
