import { admin, call } from "./api";

export type TestApp = { name: string; appkey: string; app_master_secret: string };

let seq = 0;
/** Creates an app through the admin API. */
export const createApp = async (settings: Record<string, unknown> = {}): Promise<TestApp> => {
  seq += 1;
  const name = `app-${Date.now().toString(36)}-${seq}`;
  const { status, body } = await admin("/apps", { json: { name, ...settings } });
  if (status !== 201) throw new Error(`create app failed: ${status} ${JSON.stringify(body)}`);
  return body as unknown as TestApp;
};

const md5 = async (text: string) =>
  Array.from(new Uint8Array(await crypto.subtle.digest("MD5", new TextEncoder().encode(text))), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");

/** Seed 003's validation token, computed as its Java sample does. */
export const validationToken = (appkey: string, secret: string, timestamp: string) =>
  md5(appkey.toLowerCase() + secret.toLowerCase() + timestamp);

/** CONTRACT §2's sign: md5(METHOD + url + timestamp + body + secret), url with its query, without sign. */
export const sign = (method: string, url: string, timestamp: string, body: string, secret: string) =>
  md5(method.toUpperCase() + url + timestamp + body + secret);

let lastTimestamp = 0;
/** A fresh millisecond timestamp per call: a sign is good once, so two calls never share one. */
export const nextTimestamp = () => {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  return String(lastTimestamp);
};

const ORIGIN = "http://127.0.0.1:8787";

type Opts = { timestamp?: string; secret?: string };

/** A psp call, authenticated with the body signature (recommended) or seed 003's header token. */
const pspCall = async (
  scheme: "sign" | "token",
  app: TestApp,
  method: string,
  path: string,
  body: string,
  opts: Opts,
) => {
  const timestamp = opts.timestamp ?? nextTimestamp();
  const secret = opts.secret ?? app.app_master_secret;
  const headers: Record<string, string> = {
    "x-appkey": app.appkey,
    "x-timestamp": timestamp,
    "content-type": "application/json",
  };
  let url = path;
  if (scheme === "sign") {
    url += `${path.includes("?") ? "&" : "?"}sign=${await sign(method, `${ORIGIN}${path}`, timestamp, body, secret)}`;
  } else {
    headers["x-validation-token"] = await validationToken(app.appkey, secret, timestamp);
  }
  return call(url, { method, body: body || undefined, headers });
};

export const pspSigned = (app: TestApp, method: string, path: string, body = "", opts: Opts = {}) =>
  pspCall("sign", app, method, path, body, opts);

export const pspLegacy = (app: TestApp, method: string, path: string, body = "", opts: Opts = {}) =>
  pspCall("token", app, method, path, body, opts);
