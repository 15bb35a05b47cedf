import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { randomHex } from "../../src/lib/crypto";
import { getuiProvider } from "../../src/push/providers/getui";
import type { GetuiCredentials, PushJob } from "../../src/push/providers/types";

// The Getui provider against test/stand-ins/getui.ts, which checks the sha256 auth sign, issues
// expiring tokens, validates `push/single/cid` bodies and answers Getui's codes.

interface Push {
  path: string;
  headers: Record<string, string>;
  body: string;
}

const getui = getuiProvider(env);
const post = async (path: string, body: unknown) => {
  const res = await fetch(`${env.STAND_IN_URL}/getui${path}`, { method: "POST", body: JSON.stringify(body) });
  expect(res.status).toBe(204);
};
const received = async (cid: string): Promise<Push[]> =>
  (await fetch(`${env.STAND_IN_URL}/getui/_received?cid=${cid}`)).json();
const authRequests = async (creds: GetuiCredentials): Promise<number> => {
  const res = await fetch(`${env.STAND_IN_URL}/getui/_stats?app_id=${creds.app_id}`);
  return ((await res.json()) as { auth_requests: number }).auth_requests;
};
/** A fresh app (so no token is cached for it), registered with the stand-in. */
const newApp = async (tokenTtlMs?: number): Promise<GetuiCredentials> => {
  const creds = { app_id: `app${randomHex(8)}`, app_key: randomHex(11), master_secret: randomHex(11) };
  await post("/_apps", { ...creds, token_ttl_ms: tokenTtlMs });
  return creds;
};
const newCid = () => randomHex(16);
const job = (deviceToken: string, over: Partial<PushJob> = {}): PushJob => ({
  deviceToken,
  platform: "android",
  silent: false,
  title: "你好",
  body: "World",
  payload: { orderId: 42, text: "新订单" },
  pushId: crypto.randomUUID(),
  ...over,
});
const OK = { ok: true };
const failed = (reason: string) => ({ ok: false, reason, removeDevice: false, retry: false });

describe("Getui: the request", () => {
  it("authenticates, then pushes a notification that opens the app with the payload", async () => {
    const creds = await newApp();
    const cid = newCid();
    const j = job(cid);
    expect(await getui.send(j, creds)).toStrictEqual(OK);
    expect(await authRequests(creds)).toBe(1);
    const [push, ...more] = await received(cid);
    expect(more).toHaveLength(0);
    expect(push?.path).toBe(`/${creds.app_id}/push/single/cid`);
    expect(push?.headers.token).toMatch(/^[0-9a-f]{64}$/);
    expect(push?.headers["content-type"]).toBe("application/json;charset=utf-8");
    expect(JSON.parse(push?.body ?? "")).toStrictEqual({
      request_id: j.pushId.replace(/-/g, ""),
      settings: { ttl: 7_200_000 },
      audience: { cid: [cid] },
      push_message: {
        notification: {
          title: "你好",
          body: "World",
          click_type: "payload",
          payload: '{"orderId":42,"text":"新订单"}',
        },
      },
    });
  });

  it("sends a silent message as a transmission, ttl up to its expiry", async () => {
    const creds = await newApp();
    const cid = newCid();
    const expiresAt = Date.now() + 60_000;
    expect(await getui.send(job(cid, { silent: true, expiresAt }), creds)).toStrictEqual(OK);
    const body = JSON.parse((await received(cid))[0]?.body ?? "");
    expect(body.push_message).toStrictEqual({ transmission: '{"orderId":42,"text":"新订单"}' });
    expect(body.settings.ttl).toBeGreaterThan(55_000);
    expect(body.settings.ttl).toBeLessThanOrEqual(60_000);
  });

  it("caps ttl at Getui's 3 days and gives a title-only notification its title as body", async () => {
    const creds = await newApp();
    const cid = newCid();
    const j = job(cid, { body: undefined, expiresAt: Date.now() + 5 * 86_400_000 });
    expect(await getui.send(j, creds)).toStrictEqual(OK);
    const body = JSON.parse((await received(cid))[0]?.body ?? "");
    expect(body.settings.ttl).toBe(3 * 86_400_000);
    expect(body.push_message.notification.body).toBe("你好");
  });

  it("does not send (nor authenticate) a job that has already expired", async () => {
    const creds = await newApp();
    const cid = newCid();
    expect(await getui.send(job(cid, { expiresAt: Date.now() - 1 }), creds)).toStrictEqual(failed("Expired"));
    expect(await authRequests(creds)).toBe(0);
    expect(await received(cid)).toHaveLength(0);
  });

  it("answers NetworkError, to retry, when Getui cannot be reached", async () => {
    const result = await getuiProvider({ GETUI_ENDPOINT: "http://127.0.0.1:1/v2" }).send(
      job(newCid()),
      await newApp(),
    );
    expect(result).toStrictEqual({ ok: false, reason: "NetworkError", removeDevice: false, retry: true });
  });
});

describe("Getui: the auth token", () => {
  it("is requested once and reused, also by concurrent pushes", async () => {
    const creds = await newApp();
    const cids = [newCid(), newCid(), newCid(), newCid()];
    expect(await getui.send(job(cids[0] ?? ""), creds)).toStrictEqual(OK);
    const rest = await Promise.all(cids.slice(1).map((c) => getui.send(job(c), creds)));
    expect(rest).toStrictEqual([OK, OK, OK]);
    expect(await authRequests(creds)).toBe(1);
    const tokens = new Set(await Promise.all(cids.map(async (c) => (await received(c))[0]?.headers.token)));
    expect(tokens.size).toBe(1);
  });

  it.each([
    [4, 2],
    [6, 1],
  ])(
    "with %i minutes left, two pushes make %i auth requests (refresh 5 minutes early)",
    async (minutes, auths) => {
      const creds = await newApp(minutes * 60_000);
      expect(await getui.send(job(newCid()), creds)).toStrictEqual(OK);
      expect(await getui.send(job(newCid()), creds)).toStrictEqual(OK);
      expect(await authRequests(creds)).toBe(auths);
    },
  );

  it("is refreshed on code 10001 and the push retried once", async () => {
    const creds = await newApp();
    const [a, b] = [newCid(), newCid()];
    expect(await getui.send(job(a), creds)).toStrictEqual(OK);
    await post("/_expire-tokens", { app_id: creds.app_id });
    expect(await getui.send(job(b), creds)).toStrictEqual(OK);
    expect(await authRequests(creds)).toBe(2);
    expect((await received(b))[0]?.headers.token).not.toBe((await received(a))[0]?.headers.token);
  });

  it("gives up with getui:10001 when the fresh token is refused too", async () => {
    const creds = await newApp();
    const cid = newCid();
    await post("/_fail", { cid, count: 2, status: 401, code: 10001, msg: "token expired or invalid" });
    expect(await getui.send(job(cid), creds)).toStrictEqual(failed("getui:10001"));
    expect(await authRequests(creds)).toBe(2);
    expect(await received(cid)).toHaveLength(0);
  });

  it("fails (keeping the device) when the sign is refused: wrong master secret", async () => {
    const creds = await newApp();
    const cid = newCid();
    expect(await getui.send(job(cid), { ...creds, master_secret: "wrong" })).toStrictEqual(
      failed("getui:20001"),
    );
    expect(await authRequests(creds)).toBe(1);
    expect(await received(cid)).toHaveLength(0);
  });
});

describe("Getui: codes mapped to device removal, retry or failure", () => {
  it("20001 target user is invalid: remove the device", async () => {
    const creds = await newApp();
    const cid = newCid();
    await post("/_cids", { cid });
    expect(await getui.send(job(cid), creds)).toStrictEqual({
      ok: false,
      reason: "getui:20001",
      removeDevice: true,
      retry: false,
    });
  });

  it("20001 for a bad parameter (title over 50 characters): fail, keep the device", async () => {
    const creds = await newApp();
    const cid = newCid();
    expect(await getui.send(job(cid, { title: "t".repeat(51) }), creds)).toStrictEqual(failed("getui:20001"));
    expect(await received(cid)).toHaveLength(0);
  });

  it("a gateway 503 without Getui's envelope: retry, and the next push goes through", async () => {
    const creds = await newApp();
    const cid = newCid();
    await post("/_fail", { cid, count: 1, status: 503 });
    expect(await getui.send(job(cid), creds)).toStrictEqual({
      ok: false,
      reason: "getui:http_503",
      removeDevice: false,
      retry: true,
    });
    expect(await getui.send(job(cid), creds)).toStrictEqual(OK);
  });

  it.each([
    [401, 10005, "per-minute call limit"],
    [401, 10003, "per-minute auth limit"],
  ])("%i code %i (%s): retry after a minute", async (status, code, msg) => {
    const creds = await newApp();
    const cid = newCid();
    await post("/_fail", { cid, count: 1, status, code, msg });
    const result = { ok: false, reason: `getui:${code}`, removeDevice: false, retry: true, retryAfterS: 60 };
    expect(await getui.send(job(cid), creds)).toStrictEqual(result);
  });

  it.each([
    [401, 10002, "appId or ip in blacklist"],
    [403, 30001, "push quota exceeded"],
  ])("%i code %i (%s): fail with getui:<code>", async (status, code, msg) => {
    const creds = await newApp();
    const cid = newCid();
    await post("/_fail", { cid, count: 1, status, code, msg });
    expect(await getui.send(job(cid), creds)).toStrictEqual(failed(`getui:${code}`));
  });
});
