import { describe, expect, it } from "vitest";
import { admin, call } from "../helpers/api";
import {
  createApp,
  nextTimestamp,
  pspLegacy,
  pspSigned,
  sign,
  type TestApp,
  validationToken,
} from "../helpers/psp";

const fail = async (res: Response) => ({ status: res.status, body: (await res.json()) as unknown });
const failure = (code: number) => ({
  ret: "FAIL",
  data: { error_code: code, error_msg: expect.any(String) },
});

const headersFor = async (app: TestApp, timestamp = String(Date.now())) => ({
  "x-appkey": app.appkey,
  "x-timestamp": timestamp,
  "x-validation-token": await validationToken(app.appkey, app.app_master_secret, timestamp),
});

describe("partner authentication (CONTRACT §2)", () => {
  it("answers GET /psp/app to a signed call, without Deprecation", async () => {
    const app = await createApp({ ios_payload_limit: 256 });
    const res = await pspSigned(app, "GET", "/psp/app");
    expect(res.status).toBe(200);
    expect(res.headers.get("deprecation")).toBeNull();
    expect(await res.json()).toEqual({
      ret: "SUCCESS",
      data: {
        name: app.name,
        appkey: app.appkey,
        enabled: true,
        legacy_token: true,
        ios_payload_limit: 256,
        android_payload_limit: 4096,
        push_rate_limit: 100,
      },
    });
  });

  it("accepts seed 003's header token and marks the answer Deprecation: true", async () => {
    const app = await createApp();
    const res = await pspLegacy(app, "GET", "/psp/app");
    expect(res.status).toBe(200);
    expect(res.headers.get("deprecation")).toBe("true");
    expect(((await res.json()) as { ret: string }).ret).toBe("SUCCESS");
  });

  it("accepts the token in capitals and computes it over the lower-cased appkey and secret", async () => {
    const app = await createApp();
    const timestamp = String(Date.now());
    const token = (await validationToken(app.appkey, app.app_master_secret, timestamp)).toUpperCase();
    const res = await call("/psp/app", {
      headers: { "x-appkey": app.appkey, "x-timestamp": timestamp, "x-validation-token": token },
    });
    expect(res.status).toBe(200);
  });

  it("2001: no X-Appkey", async () => {
    const app = await createApp();
    const { "x-appkey": _, ...headers } = await headersFor(app);
    expect(await fail(await call("/psp/app", { headers }))).toEqual({ status: 401, body: failure(2001) });
  });

  it("2052: no X-Timestamp", async () => {
    const app = await createApp();
    const { "x-timestamp": _, ...headers } = await headersFor(app);
    expect(await fail(await call("/psp/app", { headers }))).toEqual({ status: 401, body: failure(2052) });
  });

  it.each(["yesterday", "1.5e12", "-1700000000000", String(Math.floor(Date.now() / 1000))])(
    "2036: X-Timestamp %s is not milliseconds",
    async (timestamp) => {
      const app = await createApp();
      const headers = { ...(await headersFor(app)), "x-timestamp": timestamp };
      expect(await fail(await call("/psp/app", { headers }))).toEqual({ status: 401, body: failure(2036) });
    },
  );

  it("2007: neither validation token nor sign", async () => {
    const app = await createApp();
    const { "x-validation-token": _, ...headers } = await headersFor(app);
    expect(await fail(await call("/psp/app", { headers }))).toEqual({ status: 401, body: failure(2007) });
  });

  it("2021: unknown appkey", async () => {
    const app = await createApp();
    const res = await pspSigned({ ...app, appkey: "0123456789abcdef01234567" }, "GET", "/psp/app");
    expect(await fail(res)).toEqual({ status: 401, body: failure(2021) });
  });

  it("2000: the app is disabled (403)", async () => {
    const app = await createApp();
    await admin(`/apps/${app.appkey}`, { method: "PUT", json: { enabled: false } });
    expect(await fail(await pspSigned(app, "GET", "/psp/app"))).toEqual({ status: 403, body: failure(2000) });
  });

  it("2006: the validation token does not match, still marked Deprecation", async () => {
    const app = await createApp();
    const res = await pspLegacy(app, "GET", "/psp/app", "", { secret: "0".repeat(32) });
    expect(res.headers.get("deprecation")).toBe("true");
    expect(await fail(res)).toEqual({ status: 401, body: failure(2006) });
  });

  it("2006: the legacy token switched off for the app, while the sign still works", async () => {
    const app = await createApp();
    await admin(`/apps/${app.appkey}`, { method: "PUT", json: { legacy_token: false } });
    const res = await pspLegacy(app, "GET", "/psp/app");
    expect(res.headers.get("deprecation")).toBe("true");
    expect(await fail(res)).toEqual({ status: 401, body: failure(2006) });
    expect((await pspSigned(app, "GET", "/psp/app")).status).toBe(200);
  });

  it("2027: the sign does not match", async () => {
    const app = await createApp();
    const res = await pspSigned(app, "GET", "/psp/app", "", { secret: "f".repeat(32) });
    expect(await fail(res)).toEqual({ status: 401, body: failure(2027) });
  });

  it("2027: the sign covers the body: the same sign with another body is refused", async () => {
    const app = await createApp();
    // Authenticated, then no such POST route: 404 in the envelope, not 401.
    expect((await pspSigned(app, "POST", "/psp/app", '{"a":1}')).status).toBe(404);
    const timestamp = nextTimestamp();
    const s = await sign(
      "POST",
      "http://127.0.0.1:8787/psp/app",
      timestamp,
      '{"a":1}',
      app.app_master_secret,
    );
    const tampered = await call(`/psp/app?sign=${s}`, {
      method: "POST",
      body: '{"a":2}',
      headers: { "x-appkey": app.appkey, "x-timestamp": timestamp },
    });
    expect(await fail(tampered)).toEqual({ status: 401, body: failure(2027) });
  });

  it.each([11 * 60 * 1000, -11 * 60 * 1000])("2028: timestamp %i ms off the server clock", async (offset) => {
    const app = await createApp();
    const res = await pspSigned(app, "GET", "/psp/app", "", { timestamp: String(Date.now() + offset) });
    expect(await fail(res)).toEqual({ status: 401, body: failure(2028) });
  });

  it("accepts a timestamp 9 minutes off", async () => {
    const app = await createApp();
    const res = await pspSigned(app, "GET", "/psp/app", "", {
      timestamp: String(Date.now() - 9 * 60 * 1000),
    });
    expect(res.status).toBe(200);
  });

  it("authenticates before routing: an unknown path without credentials is 401", async () => {
    const { status, body } = await fail(await call("/psp/push/nowhere"));
    expect(status).toBe(401);
    expect(body).toEqual(failure(2001));
  });
});
