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

/** Umeng's sign: md5(METHOD + url + body + secret). */
export const sign = (method: string, url: string, body: string, secret: string) =>
  md5(method.toUpperCase() + url + body + secret);

const ORIGIN = "http://127.0.0.1:8787";

/** A psp call authenticated with the body signature (the recommended scheme). */
export const pspSigned = async (
  app: TestApp,
  method: string,
  path: string,
  body = "",
  opts: { timestamp?: string; secret?: string } = {},
) => {
  const timestamp = opts.timestamp ?? String(Date.now());
  const s = await sign(method, `${ORIGIN}${path}`, body, opts.secret ?? app.app_master_secret);
  const sep = path.includes("?") ? "&" : "?";
  return call(`${path}${sep}sign=${s}`, {
    method,
    body: body || undefined,
    headers: { "x-appkey": app.appkey, "x-timestamp": timestamp, "content-type": "application/json" },
  });
};

/** A psp call authenticated with seed 003's header token. */
export const pspLegacy = async (
  app: TestApp,
  method: string,
  path: string,
  body = "",
  opts: { timestamp?: string; secret?: string } = {},
) => {
  const timestamp = opts.timestamp ?? String(Date.now());
  const token = await validationToken(app.appkey, opts.secret ?? app.app_master_secret, timestamp);
  return call(path, {
    method,
    body: body || undefined,
    headers: {
      "x-appkey": app.appkey,
      "x-timestamp": timestamp,
      "x-validation-token": token,
      "content-type": "application/json",
    },
  });
};
