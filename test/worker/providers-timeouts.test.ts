import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { randomHex } from "../../src/lib/crypto";
import { apnsProvider } from "../../src/push/providers/apns";
import { fcmProvider } from "../../src/push/providers/fcm";
import { getuiProvider } from "../../src/push/providers/getui";
import type { PushJob } from "../../src/push/providers/types";
import { callJson } from "../helpers/api";
import { ecKeyPair, rsaKeyPair } from "../helpers/keys";
import { device, hooked, hookUp, notification, providerApp, psp, settled, standIn } from "../helpers/push";
import { newPhone, T as TECH } from "../helpers/technicians";

// Every outbound call gives up after PROVIDER_TIMEOUT_MS (2 s under vitest): a provider, or its
// token endpoint, that never answers is a retryable "Timeout", never a hung batch; a webhook POST
// is retried; an SMS send fails (SMS_SEND_FAILED). The stand-ins hold the requests through
// test/stand-ins/faults.ts.

const T = Number(env.PROVIDER_TIMEOUT_MS);
const rules: { path: string; body?: string }[] = [];
const hang = async (path: string) => {
  rules.push({ path });
  expect((await standIn("/_faults", { path, mode: "hang" })).status).toBe(204);
};
const hangBody = async (path: string, body: string) => {
  rules.push({ path, body });
  expect((await standIn("/_faults", { path, body, mode: "hang" })).status).toBe(204);
};
const held = async (path: string, body?: string) => {
  const q = `path=${encodeURIComponent(path)}${body === undefined ? "" : `&body=${encodeURIComponent(body)}`}`;
  return ((await (await standIn(`/_faults/held?${q}`)).json()) as { held: number }).held;
};
afterEach(async () => {
  for (const r of rules.splice(0)) await standIn("/_faults/clear", r);
});

const job = (deviceToken: string, over: Partial<PushJob> = {}): PushJob => ({
  deviceToken,
  platform: "android",
  silent: false,
  title: "Hello",
  body: "World",
  payload: {},
  pushId: crypto.randomUUID(),
  ...over,
});
const TIMEOUT = { ok: false, reason: "Timeout", removeDevice: false, retry: true };

/** Runs `send` and answers its result with how long it took. */
const timed = async <R>(send: () => Promise<R>) => {
  const t0 = Date.now();
  const result = await send();
  return { result, ms: Date.now() - t0 };
};

describe("a provider that never answers times out", () => {
  it("APNs: Timeout after PROVIDER_TIMEOUT_MS, the request was made once", async () => {
    const { privatePem, publicPem } = await ecKeyPair();
    const [team_id, key_id] = [randomHex(5).toUpperCase(), randomHex(5).toUpperCase()];
    await standIn("/apns/_keys", { key_id, team_id, public_key_pem: publicPem });
    const creds = {
      team_id,
      key_id,
      private_key: privatePem,
      topic: "com.example.app",
      environment: "sandbox" as const,
    };
    const token = randomHex(32);
    await hang(`/apns/3/device/${token}`);
    const { result, ms } = await timed(() => apnsProvider(env).send(job(token, { platform: "ios" }), creds));
    expect(result).toStrictEqual(TIMEOUT);
    expect(ms).toBeGreaterThanOrEqual(T - 50);
    expect(ms).toBeLessThan(T + 3000);
    expect(await held(`/apns/3/device/${token}`)).toBe(1);
  });

  it("Getui: a hung auth call and a hung push are both Timeout", async () => {
    const app = { app_id: `gt${randomHex(6)}`, app_key: randomHex(8), master_secret: randomHex(8) };
    await standIn("/getui/_apps", app);
    const getui = getuiProvider(env);
    await hang(`/getui/${app.app_id}/auth`);
    expect((await timed(() => getui.send(job(`cid${randomHex(8)}`), app))).result).toStrictEqual(TIMEOUT);
    await standIn("/_faults/clear", rules.pop());
    const cid = `cid${randomHex(8)}`;
    await hang(`/getui/${app.app_id}/push`);
    expect((await timed(() => getui.send(job(cid), app))).result).toStrictEqual(TIMEOUT);
    await standIn("/_faults/clear", rules.pop());
    // Recovered: the cached auth token is used, and the push goes through.
    expect(await getui.send(job(cid), app)).toStrictEqual({ ok: true });
  });

  it("FCM: a hung OAuth token endpoint and a hung send are both Timeout", async () => {
    const rsa = await rsaKeyPair();
    const sa = {
      project_id: `proj-${randomHex(4)}`,
      client_email: `push-${randomHex(6)}@example.iam.gserviceaccount.com`,
      private_key: rsa.privatePem,
    };
    await standIn("/fcm/_accounts", { ...sa, public_key_pem: rsa.publicPem });
    const tokenPath = `/fcm-token-${randomHex(4)}`;
    await hang(tokenPath);
    const hungToken = fcmProvider({ ...env, FCM_TOKEN_ENDPOINT: `${env.STAND_IN_URL}${tokenPath}` });
    expect(await hungToken.send(job(`fcm-${randomHex(8)}`), { service_account: sa })).toStrictEqual(TIMEOUT);
    await hang(`/fcm/v1/projects/${sa.project_id}/`);
    expect(await fcmProvider(env).send(job(`fcm-${randomHex(8)}`), { service_account: sa })).toStrictEqual(
      TIMEOUT,
    );
  });

  it("SMS: a webhook that never answers makes verifySms answer SMS_SEND_FAILED after PROVIDER_TIMEOUT_MS", async () => {
    // Only this test's phone hangs: the SMS sink is shared with the other test files.
    const phone = newPhone();
    await hangBody("/sms", phone);
    const { result, ms } = await timed(() => callJson(`${TECH}/verifySms`, { json: { phone } }));
    expect(result.status).toBe(200);
    expect(result.body).toStrictEqual({
      result: false,
      message: "短信发送失败,请稍后再试",
      error: "SMS_SEND_FAILED",
      data: null,
    });
    // The configured 2 s, not the 10 s default.
    expect(ms).toBeGreaterThanOrEqual(T - 50);
    expect(ms).toBeLessThan(T + 3000);
    expect(await held("/sms", phone)).toBe(1);
    // The code that never left is not kept: once the sink answers, a new one can be asked for at once.
    await standIn("/_faults/clear", rules.pop());
    expect((await callJson(`${TECH}/verifySms`, { json: { phone } })).body).toMatchObject({ result: true });
  }, 15_000);
});

describe("a webhook endpoint that never answers", () => {
  it("the consumer gives up after PROVIDER_TIMEOUT_MS and retries: the events arrive once, on the retry", async () => {
    const app = await providerApp();
    const id = await hookUp(app);
    // The first POST to the receiver is held without an answer; the next ones are answered.
    rules.push({ path: `/hooks/${id}` });
    await standIn("/_faults", { path: `/hooks/${id}`, mode: "hang", count: 1 });
    const r = await psp(app, "POST", "/psp/push/msg", {
      type: "unicast",
      device_tokens: await device(app, "fcm"),
      payload: notification,
    });
    const taskId = String(r.body.data.task_id);
    await settled(app, taskId);
    // The task.finished POST is held ...
    let heldAt = 0;
    for (let i = 0; i < 200 && !heldAt; i++) {
      if ((await held(`/hooks/${id}`)) === 1) heldAt = Date.now();
      else await new Promise((res) => setTimeout(res, 25));
    }
    expect(heldAt).toBeGreaterThan(0);
    // ... until the consumer gives up on it (T, not 10 s) and the retry is answered.
    let got = await hooked(id);
    while (got.deliveries.length === 0 && Date.now() - heldAt < 15_000) {
      await new Promise((res) => setTimeout(res, 50));
      got = await hooked(id);
    }
    const waited = Date.now() - heldAt;
    expect(got.deliveries.flatMap((d) => d.events)).toEqual([
      expect.objectContaining({ type: "task.finished", task_id: taskId }),
    ]);
    expect(waited).toBeGreaterThanOrEqual(T - 100);
    expect(waited).toBeLessThan(T + 4000);
    // One attempt held, one answered: the receiver saw the answered one only.
    expect(got.attempts).toBe(1);
  }, 30_000);
});
