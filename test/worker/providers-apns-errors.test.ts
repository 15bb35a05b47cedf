import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { randomHex } from "../../src/lib/crypto";
import { apnsProvider } from "../../src/push/providers/apns";
import type { ApnsCredentials, PushJob } from "../../src/push/providers/types";
import { ecKeyPair } from "../helpers/keys";

// Every APNs answer Apple documents, mapped to remove the device / retry / fail; the stand-in
// (test/stand-ins/apns.ts) produces them from its own checks or from `/apns/_fail`.

interface Attempt {
  path: string;
  headers: Record<string, string>;
  body: string;
  status: number;
  reason?: string;
}

const apns = apnsProvider(env);
const post = async (path: string, body: unknown) => {
  const res = await fetch(`${env.STAND_IN_URL}/apns${path}`, { method: "POST", body: JSON.stringify(body) });
  expect(res.status).toBe(204);
};
const attempts = async (token: string): Promise<Attempt[]> =>
  (await fetch(`${env.STAND_IN_URL}/apns/_attempts?token=${token}`)).json();

const id10 = () => randomHex(5).toUpperCase();

/** A fresh signing key, registered with the stand-in (for `topics` only, when given). */
const newCreds = async (topics?: string[]): Promise<ApnsCredentials> => {
  const { privatePem, publicPem } = await ecKeyPair();
  const [team_id, key_id] = [id10(), id10()];
  await post("/_keys", { key_id, team_id, public_key_pem: publicPem, topics });
  return { team_id, key_id, private_key: privatePem, topic: "com.example.app", environment: "sandbox" };
};
const newToken = () => randomHex(32);
const job = (deviceToken: string, over: Partial<PushJob> = {}): PushJob => ({
  deviceToken,
  platform: "ios",
  silent: false,
  title: "Hello",
  body: "World",
  payload: { orderId: 42 },
  pushId: crypto.randomUUID(),
  ...over,
});
const OK = { ok: true };
const gone = (reason: string) => ({ ok: false, reason, removeDevice: true, retry: false });
const failed = (reason: string) => ({ ok: false, reason, removeDevice: false, retry: false });

describe("APNs: answers mapped to device removal, retry or failure", () => {
  it.each([
    ["unregistered", 410, "Unregistered"],
    ["expired", 410, "ExpiredToken"],
    ["bad", 400, "BadDeviceToken"],
    ["other-topic", 400, "DeviceTokenNotForTopic"],
  ])("a token marked %s: %i %s, remove the device", async (state, status, reason) => {
    const creds = await newCreds();
    const token = newToken();
    await post("/_tokens", { token, state });
    expect(await apns.send(job(token), creds)).toStrictEqual(gone(reason));
    expect((await attempts(token)).map((a) => a.status)).toStrictEqual([status]);
  });

  it("a private key that is not a PKCS #8 P-256 key: InvalidPrivateKey, nothing sent", async () => {
    const token = newToken();
    const creds = {
      ...(await newCreds()),
      private_key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
    };
    expect(await apns.send(job(token), creds)).toStrictEqual(failed("InvalidPrivateKey"));
    expect(await attempts(token)).toHaveLength(0);
  });

  it("a malformed token: BadDeviceToken, remove the device", async () => {
    expect(await apns.send(job("not-hex"), await newCreds())).toStrictEqual(gone("BadDeviceToken"));
  });

  it.each([
    [503, "ServiceUnavailable", 30],
    [503, "Shutdown", undefined],
    [500, "InternalServerError", undefined],
    [429, "TooManyRequests", 5],
    [429, "TooManyProviderTokenUpdates", undefined],
    [400, "IdleTimeout", undefined],
  ])("%i %s: retry later (Retry-After %s), and the next push goes through", async (status, reason, after) => {
    const creds = await newCreds();
    const token = newToken();
    await post("/_fail", { token, count: 1, status, reason, retry_after: after });
    const expected = { ok: false, reason, removeDevice: false, retry: true };
    expect(await apns.send(job(token), creds)).toStrictEqual(
      after === undefined ? expected : { ...expected, retryAfterS: after },
    );
    expect(await attempts(token)).toHaveLength(1);
    expect(await apns.send(job(token), creds)).toStrictEqual(OK);
  });

  it.each([
    [400, "BadCollapseId"],
    [400, "BadExpirationDate"],
    [400, "BadMessageId"],
    [400, "BadPriority"],
    [400, "BadTopic"],
    [400, "DuplicateHeaders"],
    [400, "InvalidPushType"],
    [400, "MissingDeviceToken"],
    [400, "MissingTopic"],
    [400, "PayloadEmpty"],
    [400, "TopicDisallowed"],
    [403, "BadCertificate"],
    [403, "BadCertificateEnvironment"],
    [403, "Forbidden"],
    [403, "InvalidProviderToken"],
    [403, "MissingProviderToken"],
    [403, "UnrelatedKeyIdInToken"],
    [403, "BadEnvironmentKeyInToken"],
    [404, "BadPath"],
    [405, "MethodNotAllowed"],
    [413, "PayloadTooLarge"],
  ])("%i %s: fail, keep the device, no retry", async (status, reason) => {
    const creds = await newCreds();
    const token = newToken();
    await post("/_fail", { token, count: 1, status, reason });
    expect(await apns.send(job(token), creds)).toStrictEqual(failed(reason));
    expect(await attempts(token)).toHaveLength(1);
  });

  it("the stand-in's own checks: payload over 4096 bytes, topic not the key's, collapse id over 64 bytes", async () => {
    const creds = await newCreds(["com.example.app"]);
    const big = job(newToken(), { payload: { text: "x".repeat(4100) } });
    expect(await apns.send(big, creds)).toStrictEqual(failed("PayloadTooLarge"));
    expect((await attempts(big.deviceToken))[0]?.status).toBe(413);
    expect(await apns.send(job(newToken()), { ...creds, topic: "com.other.app" })).toStrictEqual(
      failed("TopicDisallowed"),
    );
    expect(await apns.send(job(newToken(), { collapseId: "c".repeat(65) }), creds)).toStrictEqual(
      failed("BadCollapseId"),
    );
  });
});
