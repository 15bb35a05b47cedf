import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { randomHex } from "../../src/lib/crypto";
import { apnsProvider } from "../../src/push/providers/apns";
import { fcmProvider } from "../../src/push/providers/fcm";
import { getuiProvider } from "../../src/push/providers/getui";
import type { PushJob } from "../../src/push/providers/types";
import { webhookProvider } from "../../src/sms/provider";
import { ecKeyPair, rsaKeyPair } from "../helpers/keys";
import { standIn } from "../helpers/push";

// Every outbound call gives up after PROVIDER_TIMEOUT_MS (2 s under vitest): a provider, or its
// token endpoint, that never answers is a retryable "Timeout", never a hung batch. The stand-ins
// hold the requests through test/stand-ins/faults.ts.

const T = Number(env.PROVIDER_TIMEOUT_MS);
const rules: { path: string }[] = [];
const hang = async (path: string) => {
  rules.push({ path });
  expect((await standIn("/_faults", { path, mode: "hang" })).status).toBe(204);
};
const held = async (path: string) =>
  ((await (await standIn(`/_faults/held?path=${encodeURIComponent(path)}`)).json()) as { held: number }).held;
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

  it("SMS: a webhook that never answers fails the send instead of hanging verifySms", async () => {
    const path = `/sms-hung-${randomHex(4)}`;
    await hang(path);
    const t0 = Date.now();
    await expect(
      webhookProvider(`${env.STAND_IN_URL}${path}`, 300).send("13900000000", "123456"),
    ).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
