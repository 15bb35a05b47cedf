import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { randomHex } from "../../src/lib/crypto";
import { admin } from "./api";
import { ecKeyPair, rsaKeyPair } from "./keys";
import { createApp, pspSigned, type TestApp } from "./psp";

// Push-pipeline helpers for worker tests: apps whose provider credentials the stand-ins trust,
// devices, signed psp calls and waiting for a task to settle.

export type Json = { ret: string; data: Record<string, unknown> };

/** A signed psp call (always through pspSigned, so the signing scheme lives in one place). */
export const psp = async (app: TestApp, method: string, path: string, body?: unknown) => {
  const res = await pspSigned(app, method, path, body === undefined ? "" : JSON.stringify(body));
  return { status: res.status, body: (await res.json()) as Json };
};

export const standIn = (path: string, body?: unknown) =>
  fetch(
    `${env.STAND_IN_URL}${path}`,
    body === undefined ? {} : { method: "POST", body: JSON.stringify(body) },
  );

export const standInJson = async <T>(path: string): Promise<T> => (await standIn(path)).json() as Promise<T>;

export type Provider = "apns" | "getui" | "fcm";

/** An app with credentials for every provider, registered with the stand-ins. */
export const providerApp = async (settings: Record<string, unknown> = {}): Promise<TestApp> => {
  const app = await createApp(settings);
  const ec = await ecKeyPair();
  const key_id = randomHex(5).toUpperCase();
  const team_id = randomHex(5).toUpperCase();
  const topic = `com.example.${randomHex(4)}`;
  await standIn("/apns/_keys", { key_id, team_id, topics: [topic], public_key_pem: ec.publicPem });
  const apns = await admin(`/apps/${app.appkey}/credentials/apns`, {
    method: "PUT",
    json: { team_id, key_id, private_key: ec.privatePem, topic, environment: "production" },
  });
  expect(apns.status).toBe(200);
  const getui = { app_id: `gt${randomHex(6)}`, app_key: randomHex(8), master_secret: randomHex(8) };
  await standIn("/getui/_apps", getui);
  expect((await admin(`/apps/${app.appkey}/credentials/getui`, { method: "PUT", json: getui })).status).toBe(
    200,
  );
  const rsa = await rsaKeyPair();
  const sa = {
    project_id: `proj-${randomHex(4)}`,
    client_email: `push-${randomHex(6)}@example.iam.gserviceaccount.com`,
    private_key: rsa.privatePem,
  };
  await standIn("/fcm/_accounts", { ...sa, public_key_pem: rsa.publicPem });
  const fcm = await admin(`/apps/${app.appkey}/credentials/fcm`, {
    method: "PUT",
    json: { service_account: sa },
  });
  expect(fcm.status).toBe(200);
  return app;
};

/** Registers a device of `provider`; answers its token. */
export const device = async (app: TestApp, provider: Provider, userId?: string) => {
  const token = provider === "apns" ? randomHex(32) : `${provider}-${randomHex(16)}`;
  const r = await psp(app, "POST", "/psp/devices", {
    device_token: token,
    platform: provider === "apns" ? "ios" : "android",
    provider,
    user_id: userId,
  });
  expect(r.body.ret).toBe("SUCCESS");
  return token;
};

/** What a provider stand-in accepted for a token: the JSON bodies. */
export const receivedBy = async (provider: Provider, token: string): Promise<Record<string, unknown>[]> => {
  const q = provider === "getui" ? `cid=${token}` : `token=${token}`;
  const rows = await standInJson<{ body: string }[]>(`/${provider}/_received?${q}`);
  return rows.map((r) => JSON.parse(r.body) as Record<string, unknown>);
};

/** What a webhook stand-in receiver saw (test/stand-ins/webhooks.ts). */
export type Received = {
  attempts: number;
  refused: number;
  deliveries: { timestamp: string; events: Record<string, unknown>[] }[];
};

/**
 * Points the app's callback_url at a new webhook stand-in receiver that checks signatures with
 * `secret` (the app's own by default); answers the receiver's id.
 */
export const hookUp = async (app: TestApp, secret = app.app_master_secret) => {
  const id = randomHex(6);
  await standIn("/hooks/_receivers", { id, secret });
  const put = await admin(`/apps/${app.appkey}`, {
    method: "PUT",
    json: { callback_url: `${env.STAND_IN_URL}/hooks/${id}` },
  });
  expect(put.status).toBe(200);
  return id;
};

/** Every delivery a webhook receiver accepted so far. */
export const hooked = (id: string) => standInJson<Received>(`/hooks/_received?id=${id}`);

const ENDED = ["done", "failed", "cancelled", "expired"];

/** Polls the task's status until it has ended. */
export const settled = async (app: TestApp, taskId: string) => {
  for (let i = 0; i < 300; i++) {
    const { body } = await psp(app, "GET", `/psp/push/status?task_id=${taskId}`);
    if (ENDED.includes(String(body.data.status))) return body.data;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("task did not settle");
};

export const notification = {
  display_type: "notification",
  body: { title: "新订单", text: "你收到新订单推送消息", custom: { orderId: 47 } },
};
export const silent = { display_type: "message", body: { custom: { push_type: "talk", content: "hi" } } };
