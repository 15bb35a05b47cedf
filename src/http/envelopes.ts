import type { Context, ErrorHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { AppError } from "../errors";
import { errorText, logLine } from "../lib/log";

/** Logs an unexpected error with its request context; never the body, query, cookies or headers. */
const logFault = (surface: string, c: Context, err: unknown) => {
  const path = new URL(c.req.url).pathname;
  logLine("error", `${surface} ${c.req.method} ${path}: ${errorText(err)}`, {
    surface,
    request_id: c.get("requestId"),
    method: c.req.method,
    path,
  });
};

const withHeaders = (c: Context, err: AppError) => {
  for (const [k, v] of Object.entries(err.options.headers ?? {})) c.header(k, v);
};

/** Seed 003's envelope: `{"ret":"FAIL","data":{"error_code":N,"error_msg":"..."}}`. */
export const pspError: ErrorHandler = (err, c) => {
  if (err instanceof AppError) {
    withHeaders(c, err);
    return c.json({ ret: "FAIL", data: { error_code: err.code, error_msg: err.message } }, err.status);
  }
  if (err instanceof HTTPException && err.status < 500) {
    return c.json({ ret: "FAIL", data: { error_code: 1001, error_msg: err.message } }, 400);
  }
  logFault("psp", c, err);
  return c.json({ ret: "FAIL", data: { error_code: 4000, error_msg: "internal error" } }, 500);
};

/** Seed 001's two envelopes: account calls `{status, message}`, uploads / location `{result, message, error, data}`. */
export const technicianError: ErrorHandler = (err, c) => {
  if (err instanceof AppError) {
    withHeaders(c, err);
    if (err.options.envelope === "result") {
      return c.json({ result: false, message: err.message, error: String(err.code), data: null }, err.status);
    }
    return c.json({ status: false, message: err.message }, err.status);
  }
  logFault("technician", c, err);
  return c.json({ status: false, message: "服务器内部错误" }, 500);
};

/** Admin API: `{"error": code, "message": text}`. */
export const adminError: ErrorHandler = (err, c) => {
  if (err instanceof AppError) {
    withHeaders(c, err);
    return c.json({ error: err.code, message: err.message }, err.status);
  }
  if (err instanceof HTTPException && err.status < 500) {
    return c.json({ error: "bad_request", message: err.message }, err.status as ContentfulStatusCode);
  }
  logFault("admin", c, err);
  return c.json({ error: "internal_error", message: "internal error" }, 500);
};
