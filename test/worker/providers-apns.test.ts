import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { randomHex } from "../../src/lib/crypto";
import { apnsProvider } from "../../src/push/providers/apns";
import type { ApnsCredentials, PushJob } from "../../src/push/providers/types";
import { ecKeyPair } from "../helpers/keys";

// The APNs provider against test/stand-ins/apns.ts, which checks the ES256 provider token with the
// public key registered here, Apple's headers and payload rules, and answers Apple's error bodies.

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
const attempts = async (token: string, only = "_attempts"): Promise<Attempt[]> =>
  (await fetch(`${env.STAND_IN_URL}/apns/${only}?token=${token}`)).json();
const received = (token: string) => attempts(token, "_received");

const id10 = () => randomHex(5).toUpperCase();

/** A fresh signing key (so no JWT is cached for it yet), registered with the stand-in unless told not to. */
const newCreds = async (opts: { register?: boolean; topics?: string[] } = {}) => {
  const { privatePem, publicPem } = await ecKeyPair();
  const creds: ApnsCredentials & { publicPem: string } = {
    publicPem,
    team_id: id10(),
    key_id: id10(),
    private_key: privatePem,
    topic: "com.example.app",
    environment: "sandbox",
  };
  if (opts.register !== false) {
    await post("/_keys", {
      key_id: creds.key_id,
      team_id: creds.team_id,
      public_key_pem: publicPem,
      topics: opts.topics,
    });
  }
  return creds;
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
const decode = (part: string | undefined) =>
  JSON.parse(atob((part ?? "").replace(/-/g, "+").replace(/_/g, "/")));
const jwtOf = (a: Attempt | undefined) => a?.headers.authorization?.replace(/^bearer /, "");
const OK = { ok: true };
const failed = (reason: string) => ({ ok: false, reason, removeDevice: false, retry: false });

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("APNs: the request", () => {
  it("sends an alert: path, every apns header, bearer ES256 provider token, alert body", async () => {
    const creds = await newCreds();
    const token = newToken();
    const j = job(token);
    const before = Math.floor(Date.now() / 1000);
    expect(await apns.send(j, creds)).toStrictEqual(OK);

    const [push, ...more] = await received(token);
    expect(more).toHaveLength(0);
    expect(push?.path).toBe(`/3/device/${token}`);
    const apnsHeaders = Object.keys(push?.headers ?? {}).filter((k) => k.startsWith("apns-"));
    expect(apnsHeaders.sort()).toStrictEqual([
      "apns-expiration",
      "apns-id",
      "apns-priority",
      "apns-push-type",
      "apns-topic",
    ]);
    expect(push?.headers).toMatchObject({
      "apns-topic": "com.example.app",
      "apns-push-type": "alert",
      "apns-priority": "10",
      "apns-expiration": "0",
      "apns-id": j.pushId,
      "content-type": "application/json",
    });
    const [h, p, s] = (jwtOf(push) ?? "").split(".");
    expect(decode(h)).toStrictEqual({ alg: "ES256", kid: creds.key_id });
    const claims = decode(p);
    expect(Object.keys(claims).sort()).toStrictEqual(["iat", "iss"]);
    expect(claims.iss).toBe(creds.team_id);
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.iat).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    expect(s).toMatch(/^[\w-]{86}$/); // a raw 64-byte r||s signature
    expect(push?.body).toBe(
      '{"aps":{"alert":{"title":"Hello","body":"World"},"sound":"default"},"orderId":42}',
    );
  });

  it("sends a silent message as a background push, priority 5, with expiration and collapse id", async () => {
    const creds = await newCreds();
    const token = newToken();
    const expiresAt = Date.now() + 3600_000;
    const j = job(token, {
      silent: true,
      expiresAt,
      collapseId: "order-42",
      payload: { aps: { badge: 9 }, a: [1] },
    });
    expect(await apns.send(j, creds)).toStrictEqual(OK);
    const [push] = await received(token);
    expect(push?.headers).toMatchObject({
      "apns-push-type": "background",
      "apns-priority": "5",
      "apns-expiration": String(Math.floor(expiresAt / 1000)),
      "apns-collapse-id": "order-42",
      "apns-id": j.pushId,
    });
    // The app's own `aps` never overrides ours.
    expect(push?.body).toBe('{"aps":{"content-available":1},"a":[1]}');
  });

  it("puts a payload that is not an object under `payload`", async () => {
    const creds = await newCreds();
    const token = newToken();
    expect(await apns.send(job(token, { silent: true, payload: "text" }), creds)).toStrictEqual(OK);
    expect((await received(token))[0]?.body).toBe('{"aps":{"content-available":1},"payload":"text"}');
  });

  it.each([
    ["sandbox", "https://api.sandbox.push.apple.com"],
    ["production", "https://api.push.apple.com"],
  ] as const)("without APNS_ENDPOINT a %s app goes to %s", async (environment, host) => {
    const creds = { ...(await newCreds()), environment };
    const spy = vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response(null, { status: 200 }));
    const token = newToken();
    expect(await apnsProvider({ APNS_ENDPOINT: "" }).send(job(token), creds)).toStrictEqual(OK);
    expect(spy).toHaveBeenCalledOnce();
    expect(String(spy.mock.calls[0]?.[0])).toBe(`${host}/3/device/${token}`);
  });

  it("does not send a job that has already expired", async () => {
    const creds = await newCreds();
    const token = newToken();
    expect(await apns.send(job(token, { expiresAt: Date.now() - 1 }), creds)).toStrictEqual(
      failed("Expired"),
    );
    expect(await attempts(token)).toHaveLength(0);
  });

  it("answers NetworkError, to retry, when APNs cannot be reached", async () => {
    const result = await apnsProvider({ APNS_ENDPOINT: "http://127.0.0.1:1" }).send(
      job(newToken()),
      await newCreds(),
    );
    expect(result).toStrictEqual({ ok: false, reason: "NetworkError", removeDevice: false, retry: true });
  });
});

describe("APNs: the provider token", () => {
  it("is signed once and reused, also by concurrent pushes", async () => {
    const creds = await newCreds();
    const tokens = [newToken(), newToken(), newToken(), newToken()];
    expect(await apns.send(job(tokens[0] ?? ""), creds)).toStrictEqual(OK);
    const rest = await Promise.all(tokens.slice(1).map((t) => apns.send(job(t), creds)));
    expect(rest).toStrictEqual([OK, OK, OK]);
    const jwts = new Set(await Promise.all(tokens.map(async (t) => jwtOf((await received(t))[0]))));
    expect(jwts.size).toBe(1);
  });

  it("is still reused after 49 minutes and re-signed after 51", async () => {
    const creds = await newCreds();
    const [a, b, c] = [newToken(), newToken(), newToken()];
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() - 51 * 60_000);
    expect(await apns.send(job(a), creds)).toStrictEqual(OK);
    vi.setSystemTime(Date.now() + 2 * 60_000); // 49 minutes ago
    expect(await apns.send(job(b), creds)).toStrictEqual(OK);
    vi.useRealTimers();
    expect(await apns.send(job(c), creds)).toStrictEqual(OK);
    const [ja, jb, jc] = await Promise.all([a, b, c].map(async (t) => jwtOf((await received(t))[0])));
    expect(jb).toBe(ja);
    expect(jc).not.toBe(ja);
    expect(decode(jc?.split(".")[1]).iat).toBeGreaterThan(decode(ja?.split(".")[1]).iat + 50 * 60 - 1);
  });

  it("is re-signed at once when APNs answers 403 ExpiredProviderToken, and the push retried once", async () => {
    const creds = await newCreds();
    const [a, b, c] = [newToken(), newToken(), newToken()];
    expect(await apns.send(job(a), creds)).toStrictEqual(OK);
    await post("/_expire-jwts", { key_id: creds.key_id });
    expect(await apns.send(job(b), creds)).toStrictEqual(OK);
    const tries = await attempts(b);
    expect(tries.map((t) => [t.status, t.reason ?? null])).toStrictEqual([
      [403, "ExpiredProviderToken"],
      [200, null],
    ]);
    expect(jwtOf(tries[0])).toBe(jwtOf((await received(a))[0]));
    expect(jwtOf(tries[1])).not.toBe(jwtOf(tries[0]));
    expect(await apns.send(job(c), creds)).toStrictEqual(OK);
    expect(jwtOf((await received(c))[0])).toBe(jwtOf(tries[1]));
  });

  it("gives up after one retry when the fresh token is refused too (clock an hour behind)", async () => {
    const creds = await newCreds();
    const token = newToken();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() - 61 * 60_000);
    expect(await apns.send(job(token), creds)).toStrictEqual(failed("ExpiredProviderToken"));
    vi.useRealTimers();
    expect((await attempts(token)).map((t) => t.reason)).toStrictEqual([
      "ExpiredProviderToken",
      "ExpiredProviderToken",
    ]);
  });

  it("fails InvalidProviderToken for an unknown key, and re-signs once the key is right", async () => {
    const creds = await newCreds({ register: false });
    const [a, b] = [newToken(), newToken()];
    const other = await ecKeyPair();
    await post("/_keys", { key_id: creds.key_id, team_id: creds.team_id, public_key_pem: other.publicPem });
    expect(await apns.send(job(a), creds)).toStrictEqual(failed("InvalidProviderToken"));
    expect(await attempts(a)).toHaveLength(1);
    await post("/_keys", { key_id: creds.key_id, team_id: creds.team_id, public_key_pem: creds.publicPem });
    expect(await apns.send(job(b), creds)).toStrictEqual(OK);
    expect(jwtOf((await received(b))[0])).not.toBe(jwtOf((await attempts(a))[0]));
  });

  it("fails InvalidProviderToken when the token's team is not the key's", async () => {
    const creds = await newCreds();
    const token = newToken();
    expect(await apns.send(job(token), { ...creds, team_id: id10() })).toStrictEqual(
      failed("InvalidProviderToken"),
    );
  });
});
