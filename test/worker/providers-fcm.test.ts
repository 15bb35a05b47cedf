import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { randomHex } from "../../src/lib/crypto";
import { fcmProvider } from "../../src/push/providers/fcm";
import type { FcmCredentials, PushJob } from "../../src/push/providers/types";
import { rsaKeyPair } from "../helpers/keys";

// The FCM provider against test/stand-ins/fcm.ts: an OAuth token endpoint that verifies the RS256
// assertion with the public key registered here, and messages:send with Google's error bodies.

interface Message {
  path: string;
  headers: Record<string, string>;
  body: string;
}

const fcm = fcmProvider(env);
const post = async (path: string, body: unknown) => {
  const res = await fetch(`${env.STAND_IN_URL}/fcm${path}`, { method: "POST", body: JSON.stringify(body) });
  expect(res.status).toBe(204);
};
const received = async (token: string): Promise<Message[]> =>
  (await fetch(`${env.STAND_IN_URL}/fcm/_received?token=${token}`)).json();
const tokenRequests = async (creds: FcmCredentials): Promise<number> => {
  const email = encodeURIComponent(creds.service_account.client_email);
  const res = await fetch(`${env.STAND_IN_URL}/fcm/_stats?client_email=${email}`);
  return ((await res.json()) as { token_requests: number }).token_requests;
};

let keys: { privatePem: string; publicPem: string };
beforeAll(async () => {
  keys = await rsaKeyPair();
});

/** A fresh service account (so no access token is cached for it), registered with the stand-in. */
const newAccount = async (opts: { tokenTtlS?: number; publicPem?: string } = {}): Promise<FcmCredentials> => {
  const sa = {
    project_id: `proj-${randomHex(4)}`,
    client_email: `push-${randomHex(6)}@example.iam.gserviceaccount.com`,
    private_key: keys.privatePem,
  };
  const account = { ...sa, public_key_pem: opts.publicPem ?? keys.publicPem, token_ttl_s: opts.tokenTtlS };
  await post("/_accounts", account);
  return { service_account: sa };
};
const newToken = () => `fcm-${randomHex(40)}`;
const job = (deviceToken: string, over: Partial<PushJob> = {}): PushJob => ({
  deviceToken,
  platform: "android",
  silent: false,
  title: "Hello",
  body: "World",
  payload: { orderId: 42 },
  pushId: crypto.randomUUID(),
  ...over,
});
const decode = (part: string | undefined) =>
  JSON.parse(atob((part ?? "").replace(/-/g, "+").replace(/_/g, "/")));
const OK = { ok: true };
const gone = (reason: string) => ({ ok: false, reason, removeDevice: true, retry: false });
const failed = (reason: string) => ({ ok: false, reason, removeDevice: false, retry: false });
const later = (reason: string) => ({ ok: false, reason, removeDevice: false, retry: true });

describe("FCM: the request", () => {
  it("sends a notification with data to messages:send with the bearer access token", async () => {
    const creds = await newAccount();
    const token = newToken();
    expect(await fcm.send(job(token), creds)).toStrictEqual(OK);
    const [message, ...more] = await received(token);
    expect(more).toHaveLength(0);
    expect(message?.path).toBe(`/v1/projects/${creds.service_account.project_id}/messages:send`);
    expect(message?.headers.authorization).toMatch(/^Bearer ya29\.[\w-]+$/);
    expect(message?.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(JSON.parse(message?.body ?? "")).toStrictEqual({
      message: {
        token,
        data: { payload: '{"orderId":42}' },
        notification: { title: "Hello", body: "World" },
        android: { priority: "high" },
      },
    });
    expect(await tokenRequests(creds)).toBe(1);
  });

  it("sends a silent message as data only, normal priority, ttl up to its expiry, collapse key", async () => {
    const creds = await newAccount();
    const token = newToken();
    const j = job(token, { silent: true, expiresAt: Date.now() + 90_000, collapseId: "order-42" });
    expect(await fcm.send(j, creds)).toStrictEqual(OK);
    const { message } = JSON.parse((await received(token))[0]?.body ?? "");
    expect(message).toStrictEqual({
      token,
      data: { payload: '{"orderId":42}' },
      android: { priority: "normal", ttl: expect.stringMatching(/^(89|90)s$/), collapse_key: "order-42" },
    });
  });

  it("caps ttl at FCM's 28 days", async () => {
    const creds = await newAccount();
    const token = newToken();
    expect(await fcm.send(job(token, { expiresAt: Date.now() + 40 * 86_400_000 }), creds)).toStrictEqual(OK);
    expect(JSON.parse((await received(token))[0]?.body ?? "").message.android.ttl).toBe("2419200s");
  });

  it("does not send (nor fetch a token for) a job that has already expired", async () => {
    const creds = await newAccount();
    expect(await fcm.send(job(newToken(), { expiresAt: Date.now() - 1 }), creds)).toStrictEqual(
      failed("Expired"),
    );
    expect(await tokenRequests(creds)).toBe(0);
  });

  it("answers NetworkError, to retry, when FCM cannot be reached", async () => {
    const creds = await newAccount();
    const down = fcmProvider({
      FCM_ENDPOINT: "http://127.0.0.1:1",
      FCM_TOKEN_ENDPOINT: env.FCM_TOKEN_ENDPOINT,
    });
    expect(await down.send(job(newToken()), creds)).toStrictEqual(later("NetworkError"));
  });
});

describe("FCM: the access token", () => {
  it("comes from an RS256 assertion the token endpoint verified, and is reused by every push", async () => {
    const creds = await newAccount();
    const tokens = [newToken(), newToken(), newToken(), newToken()];
    expect(await fcm.send(job(tokens[0] ?? ""), creds)).toStrictEqual(OK);
    const rest = await Promise.all(tokens.slice(1).map((t) => fcm.send(job(t), creds)));
    expect(rest).toStrictEqual([OK, OK, OK]);
    expect(await tokenRequests(creds)).toBe(1);
    const bearers = new Set(
      await Promise.all(tokens.map(async (t) => (await received(t))[0]?.headers.authorization)),
    );
    expect(bearers.size).toBe(1);
  });

  it("is refused when the assertion is signed with another key: oauth:invalid_grant, no retry", async () => {
    const other = await rsaKeyPair();
    const creds = await newAccount({ publicPem: other.publicPem });
    const token = newToken();
    expect(await fcm.send(job(token), creds)).toStrictEqual(failed("oauth:invalid_grant"));
    expect(await received(token)).toHaveLength(0);
  });

  it("a private key that is not a PKCS #8 RSA key: InvalidPrivateKey, no token request", async () => {
    const creds = await newAccount();
    const broken = { service_account: { ...creds.service_account, private_key: "not a key" } };
    expect(await fcm.send(job(newToken()), broken)).toStrictEqual(failed("InvalidPrivateKey"));
    expect(await tokenRequests(creds)).toBe(0);
  });

  it.each([
    [240, 2],
    [360, 1],
  ])(
    "with expires_in %i s, two pushes make %i token requests (refresh 5 minutes early)",
    async (ttl, requests) => {
      const creds = await newAccount({ tokenTtlS: ttl });
      expect(await fcm.send(job(newToken()), creds)).toStrictEqual(OK);
      expect(await fcm.send(job(newToken()), creds)).toStrictEqual(OK);
      expect(await tokenRequests(creds)).toBe(requests);
    },
  );

  it("is fetched anew on 401 and the push retried once", async () => {
    const creds = await newAccount();
    const [a, b] = [newToken(), newToken()];
    expect(await fcm.send(job(a), creds)).toStrictEqual(OK);
    await post("/_revoke", { client_email: creds.service_account.client_email });
    expect(await fcm.send(job(b), creds)).toStrictEqual(OK);
    expect(await tokenRequests(creds)).toBe(2);
    expect((await received(b))[0]?.headers.authorization).not.toBe(
      (await received(a))[0]?.headers.authorization,
    );
  });

  it("gives up with UNAUTHENTICATED when the fresh token is refused too", async () => {
    const creds = await newAccount();
    const token = newToken();
    await post("/_fail", { token, count: 2, status: 401 });
    expect(await fcm.send(job(token), creds)).toStrictEqual(failed("UNAUTHENTICATED"));
    expect(await tokenRequests(creds)).toBe(2);
  });
});

describe("FCM: errors mapped to device removal, retry or failure", () => {
  it.each([
    ["unregistered", "UNREGISTERED"],
    ["invalid", "INVALID_ARGUMENT"],
    ["sender-mismatch", "SENDER_ID_MISMATCH"],
  ])("a token marked %s: %s, remove the device", async (state, reason) => {
    const creds = await newAccount();
    const token = newToken();
    await post("/_tokens", { token, state });
    expect(await fcm.send(job(token), creds)).toStrictEqual(gone(reason));
  });

  it("INVALID_ARGUMENT about the message (over 4096 bytes): fail, keep the device", async () => {
    const creds = await newAccount();
    const token = newToken();
    const big = job(token, { payload: { text: "x".repeat(4100) } });
    expect(await fcm.send(big, creds)).toStrictEqual(failed("INVALID_ARGUMENT"));
  });

  it("a project the service account cannot send for: PERMISSION_DENIED, fail", async () => {
    const creds = await newAccount();
    const wrong = { service_account: { ...creds.service_account, project_id: "someone-else" } };
    expect(await fcm.send(job(newToken()), wrong)).toStrictEqual(failed("PERMISSION_DENIED"));
  });

  it.each([
    [503, "UNAVAILABLE", 20],
    [500, "INTERNAL", undefined],
    [429, "QUOTA_EXCEEDED", 60],
  ])("%i %s: retry (Retry-After %s), and the next push goes through", async (status, reason, after) => {
    const creds = await newAccount();
    const token = newToken();
    await post("/_fail", { token, count: 1, status, retry_after: after });
    const expected = after === undefined ? later(reason) : { ...later(reason), retryAfterS: after };
    expect(await fcm.send(job(token), creds)).toStrictEqual(expected);
    expect(await fcm.send(job(token), creds)).toStrictEqual(OK);
  });
});

describe("FCM: the assertion", () => {
  it("is RS256, iss = client_email, aud = the token URL, scope firebase.messaging, one hour", async () => {
    // The stand-in verified all of this before issuing a token; decode one assertion here as well.
    const creds = await newAccount();
    let assertion = "";
    const original = globalThis.fetch;
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      if (String(input) === env.FCM_TOKEN_ENDPOINT) {
        assertion = new URLSearchParams(String(init?.body)).get("assertion") ?? "";
      }
      return original(input, init);
    }) as typeof fetch;
    try {
      expect(await fcm.send(job(newToken()), creds)).toStrictEqual(OK);
    } finally {
      globalThis.fetch = original;
    }
    const [h, p] = assertion.split(".");
    expect(decode(h)).toStrictEqual({ alg: "RS256", typ: "JWT" });
    const claims = decode(p);
    expect(claims).toMatchObject({
      iss: creds.service_account.client_email,
      aud: env.FCM_TOKEN_ENDPOINT,
      scope: "https://www.googleapis.com/auth/firebase.messaging",
    });
    expect(claims.exp - claims.iat).toBe(3600);
  });
});
