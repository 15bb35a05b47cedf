import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../../env";
import { pspFail } from "../../errors";
import { replayGuard } from "../../hubs/replay-guard";
import { md5Hex, safeEqual } from "../../lib/crypto";
import { signedUrl, signInput } from "../../lib/psp-sign";
import { cachedAppByKey, masterSecretOf } from "../../services/apps";

/** How far X-Timestamp may be from the server clock (CONTRACT §2). */
export const TIMESTAMP_WINDOW_MS = 10 * 60 * 1000;
/** Millisecond timestamps below this (before 1973) are taken for seconds and refused as such. */
const MIN_MS_TIMESTAMP = 100_000_000_000;

/** Seed 003's validation token: md5hex(lower(appkey) + lower(app_master_secret) + timestamp). */
export const legacyToken = (appkey: string, secret: string, timestamp: string) =>
  md5Hex(appkey.toLowerCase() + secret.toLowerCase() + timestamp);

/**
 * Authenticates every `/psp/*` call before anything else (CONTRACT §2), by the request signature
 * (`?sign=`, preferred when both are present; good once) or by seed 003's header token. Every
 * answer to a request that used the header token carries `Deprecation: true`.
 */
export const pspAuth = createMiddleware<AppEnv>(async (c, next) => {
  const appkey = c.req.header("x-appkey");
  const timestamp = c.req.header("x-timestamp");
  const token = c.req.header("x-validation-token");
  const sign = c.req.query("sign");
  const legacy = !sign && Boolean(token);
  if (legacy) c.header("Deprecation", "true");

  if (!appkey) throw pspFail(401, 2001, "X-Appkey header is missing");
  if (!timestamp) throw pspFail(401, 2052, "X-Timestamp header is missing");
  if (!/^\d{1,16}$/.test(timestamp) || Number(timestamp) < MIN_MS_TIMESTAMP) {
    throw pspFail(401, 2036, "X-Timestamp must be milliseconds since the epoch");
  }
  if (!sign && !token) {
    throw pspFail(
      401,
      2007,
      "the sign query parameter is missing (or the deprecated X-Validation-Token header)",
    );
  }

  const app = await cachedAppByKey(c.var.db, appkey);
  if (!app) throw pspFail(401, 2021, "unknown appkey");
  if (!app.enabled) throw pspFail(403, 2000, "the app is disabled");
  if (Math.abs(Date.now() - Number(timestamp)) > TIMESTAMP_WINDOW_MS) {
    throw pspFail(401, 2028, "X-Timestamp is more than 10 minutes off the server clock");
  }
  const secret = await masterSecretOf(c.env.CREDENTIALS_KEY, app);

  if (legacy) {
    if (!app.legacyToken) {
      throw pspFail(401, 2006, "the validation token is switched off for this app; use ?sign=");
    }
    const expected = secret ? await legacyToken(appkey, secret, timestamp) : "";
    if (!expected || !safeEqual(expected, (token ?? "").toLowerCase())) {
      throw pspFail(401, 2006, "X-Validation-Token does not match");
    }
  } else {
    const body = await c.req.text();
    const input = signInput(c.req.method, signedUrl(c.req.url), timestamp, body, secret ?? "");
    const expected = secret ? await md5Hex(input) : "";
    if (!expected || !safeEqual(expected, (sign ?? "").toLowerCase())) {
      throw pspFail(401, 2027, "sign does not match");
    }
    const fresh = await replayGuard(c.env, app.appkey, expected).claim(
      expected,
      Number(timestamp) + TIMESTAMP_WINDOW_MS,
    );
    if (!fresh) {
      throw pspFail(401, 2029, "this sign was already used: sign every request anew, with a new X-Timestamp");
    }
  }

  c.set("app", app);
  await next();
  if (legacy) c.res.headers.set("Deprecation", "true");
});
