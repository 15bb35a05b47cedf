import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ReplayGuard } from "../../src/hubs/replay-guard";
import { call, ORIGIN } from "../helpers/api";
import { createApp, nextTimestamp, pspLegacy, pspSigned, sign, type TestApp } from "../helpers/psp";

type Json = { ret: string; data: Record<string, unknown> };
const answer = async (res: Response) => ({ status: res.status, body: (await res.json()) as Json });
const failure = (code: number) => ({
  ret: "FAIL",
  data: { error_code: code, error_msg: expect.any(String) },
});

/** One signed request, built once, so the very same bytes can be sent again. */
const signedRequest = async (
  app: TestApp,
  method: string,
  path: string,
  body = "",
  timestamp = nextTimestamp(),
) => {
  const s = await sign(method, `${ORIGIN}${path}`, timestamp, body, app.app_master_secret);
  const url = `${path}${path.includes("?") ? "&" : "?"}sign=${s}`;
  const headers = { "x-appkey": app.appkey, "x-timestamp": timestamp, "content-type": "application/json" };
  return { url, sign: s, timestamp, send: () => call(url, { method, headers, body: body || undefined }) };
};

const pushTask = async (app: TestApp) => {
  const body = JSON.stringify({
    type: "unicast",
    device_tokens: "deadbeef",
    payload: { display_type: "message", body: { custom: { content: "hi" } } },
  });
  const { body: json } = await answer(await pspSigned(app, "POST", "/psp/push/msg", body));
  return String(json.data.task_id);
};

describe("request signature (CONTRACT §2: METHOD + url + timestamp + body + secret)", () => {
  it("signs a GET with its query string: status of a task", async () => {
    const app = await createApp();
    const taskId = await pushTask(app);
    const req = await signedRequest(app, "GET", `/psp/push/status?task_id=${taskId}`);
    const { status, body } = await answer(await req.send());
    expect(status).toBe(200);
    expect(body.data.task_id).toBe(taskId);
  });

  it("2027: the sign covers the query: the same sign for another task_id is refused", async () => {
    const app = await createApp();
    const [a, b] = [await pushTask(app), await pushTask(app)];
    const req = await signedRequest(app, "GET", `/psp/push/status?task_id=${a}`);
    const forged = await call(req.url.replace(a, b), {
      headers: { "x-appkey": app.appkey, "x-timestamp": req.timestamp },
    });
    expect(await answer(forged)).toEqual({ status: 401, body: failure(2027) });
    expect((await req.send()).status).toBe(200); // the genuine one was not used up by the forgery
  });

  it("2027: a sign made without the query string no longer passes", async () => {
    const app = await createApp();
    const taskId = await pushTask(app);
    const timestamp = nextTimestamp();
    const s = await sign("GET", `${ORIGIN}/psp/push/status`, timestamp, "", app.app_master_secret);
    const res = await call(`/psp/push/status?task_id=${taskId}&sign=${s}`, {
      headers: { "x-appkey": app.appkey, "x-timestamp": timestamp },
    });
    expect(await answer(res)).toEqual({ status: 401, body: failure(2027) });
  });

  it("2027: the sign covers X-Timestamp: a fresh timestamp on a captured sign is refused", async () => {
    const app = await createApp();
    const req = await signedRequest(app, "GET", "/psp/app");
    const moved = await call(req.url, {
      headers: { "x-appkey": app.appkey, "x-timestamp": String(Number(req.timestamp) + 5000) },
    });
    expect(await answer(moved)).toEqual({ status: 401, body: failure(2027) });
  });

  it("2029: a signed request sent again is refused; a re-signed one passes", async () => {
    const app = await createApp();
    const body = JSON.stringify({ device_token: "cafe01", platform: "android", provider: "fcm" });
    const req = await signedRequest(app, "POST", "/psp/devices", body);
    expect((await req.send()).status).toBe(200);
    expect(await answer(await req.send())).toEqual({ status: 401, body: failure(2029) });
    expect((await pspSigned(app, "POST", "/psp/devices", body)).status).toBe(200);
  });

  it("2029: a captured push cannot be sent twice, so it makes one task", async () => {
    const app = await createApp();
    const body = JSON.stringify({
      type: "unicast",
      device_tokens: "deadbeef",
      payload: { display_type: "message", body: { custom: "x" } },
    });
    const req = await signedRequest(app, "POST", "/psp/push/msg", body);
    expect((await answer(await req.send())).body.ret).toBe("SUCCESS");
    expect(await answer(await req.send())).toEqual({ status: 401, body: failure(2029) });
    const { results } = await env.DB.prepare(
      "SELECT t.id FROM tasks t JOIN apps a ON a.id = t.app_id WHERE a.appkey = ?",
    )
      .bind(app.appkey)
      .all();
    expect(results).toHaveLength(1);
  });

  it("2029 under a race: of identical requests sent at once, exactly one succeeds", async () => {
    const app = await createApp();
    const req = await signedRequest(app, "GET", "/psp/app");
    const answers = await Promise.all(Array.from({ length: 8 }, () => req.send().then(answer)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 401 && a.body.data.error_code === 2029)).toHaveLength(7);
  });

  it("a sign is bound to its app: a captured sign under another appkey is refused", async () => {
    const [a, b] = [await createApp(), await createApp()];
    const req = await signedRequest(a, "GET", "/psp/app");
    const other = await call(req.url, { headers: { "x-appkey": b.appkey, "x-timestamp": req.timestamp } });
    expect(await answer(other)).toEqual({ status: 401, body: failure(2027) });
    expect((await req.send()).status).toBe(200);
  });

  it("sign in capitals is the same sign: it cannot be replayed by changing its case", async () => {
    const app = await createApp();
    const req = await signedRequest(app, "GET", "/psp/app");
    expect((await req.send()).status).toBe(200);
    const upper = await call(req.url.replace(req.sign, req.sign.toUpperCase()), {
      headers: { "x-appkey": app.appkey, "x-timestamp": req.timestamp },
    });
    expect(await answer(upper)).toEqual({ status: 401, body: failure(2029) });
  });

  it("keeps the parameters before sign in the order sent", async () => {
    const app = await createApp();
    const taskId = await pushTask(app);
    const req = await signedRequest(app, "GET", `/psp/push/status?task_id=${taskId}&lang=zh`);
    expect((await req.send()).status).toBe(200);
    const swapped = await signedRequest(app, "GET", `/psp/push/status?lang=zh&task_id=${taskId}`);
    const reordered = await call(`/psp/push/status?task_id=${taskId}&lang=zh&sign=${swapped.sign}`, {
      headers: { "x-appkey": app.appkey, "x-timestamp": swapped.timestamp },
    });
    expect(await answer(reordered)).toEqual({ status: 401, body: failure(2027) });
  });

  it("the legacy header token is unchanged: it may be sent again (and says Deprecation)", async () => {
    const app = await createApp();
    const timestamp = nextTimestamp();
    for (let i = 0; i < 2; i++) {
      const res = await pspLegacy(app, "GET", "/psp/app", "", { timestamp });
      expect(res.status).toBe(200);
      expect(res.headers.get("deprecation")).toBe("true");
    }
  });

  it("2007 names what is missing", async () => {
    const app = await createApp();
    const { body } = await answer(
      await call("/psp/app", { headers: { "x-appkey": app.appkey, "x-timestamp": nextTimestamp() } }),
    );
    expect(body.data).toEqual({
      error_code: 2007,
      error_msg: expect.stringMatching(/sign.*X-Validation-Token/),
    });
  });

  it("a request refused before its sign is verified does not use the sign up", async () => {
    const app = await createApp();
    const req = await signedRequest(app, "GET", "/psp/app");
    const unknownApp = await call(req.url, {
      headers: { "x-appkey": "0123456789abcdef01234567", "x-timestamp": req.timestamp },
    });
    expect((await answer(unknownApp)).body.data.error_code).toBe(2021);
    expect((await req.send()).status).toBe(200);
  });
});

describe("ReplayGuard", () => {
  it("forgets a sign once its timestamp has left the window, by its alarm", async () => {
    const stub = env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName("sweep-test:0"));
    const now = Date.now();
    expect(await stub.claim("0old", now - 1)).toBe(true);
    expect(await stub.claim("0new", now + 600_000)).toBe(true);
    expect(await stub.claim("0new", now + 600_000)).toBe(false);
    // An expired row no longer refuses, even before the sweep.
    expect(await stub.claim("0old", now - 1)).toBe(true);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.size()).toBe(1);
    const next = await runInDurableObject(stub, (_: ReplayGuard, state) => state.storage.getAlarm());
    expect(next).toBeGreaterThan(now + 600_000);
  });
});
