import { env, exports } from "cloudflare:workers";

/** The origin tests call the Worker on: plain http to 127.0.0.1, as `npm start` serves it. */
export const ORIGIN = "http://127.0.0.1:8787";

type Init = {
  method?: string;
  json?: unknown;
  form?: Record<string, string>;
  body?: BodyInit;
  headers?: Record<string, string>;
  token?: string;
  origin?: string;
};

/** Calls the Worker's real fetch entry point. */
export const call = (path: string, init: Init = {}): Promise<Response> => {
  const headers = new Headers(init.headers);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(init.json);
  } else if (init.form) {
    headers.set("content-type", "application/x-www-form-urlencoded");
    body = new URLSearchParams(init.form).toString();
  }
  if (init.token) headers.set("cookie", `autoken=${init.token}`);
  const method = init.method ?? (body === undefined ? "GET" : "POST");
  return exports.default.fetch(new Request(`${init.origin ?? ORIGIN}${path}`, { method, headers, body }));
};

/** Calls and parses the JSON answer. */
export const callJson = async <T = Record<string, unknown>>(path: string, init: Init = {}) => {
  const res = await call(path, init);
  return { res, status: res.status, body: (await res.json()) as T };
};

export const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

export const admin = (path: string, init: Init = {}) =>
  callJson(`/api/admin${path}`, { ...init, headers: { ...ADMIN, ...init.headers } });
