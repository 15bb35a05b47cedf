import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { randomHex } from "../../src/lib/crypto";
import { admin } from "../helpers/api";
import { ecKeyPair } from "../helpers/keys";
import { createApp, pspSigned, type TestApp } from "../helpers/psp";

// The whole pipeline: POST /psp/push/msg → task → queue → consumer → provider stand-in.

type Json = { ret: string; data: Record<string, unknown> };
const psp = async (app: TestApp, method: string, path: string, body?: unknown) => {
  const res = await pspSigned(app, method, path, body === undefined ? "" : JSON.stringify(body));
  return (await res.json()) as Json;
};
const standIn = async (path: string, body?: unknown) =>
  fetch(
    `${env.STAND_IN_URL}${path}`,
    body === undefined ? {} : { method: "POST", body: JSON.stringify(body) },
  );
const received = async (token: string) =>
  (await (await standIn(`/apns/_received?token=${token}`)).json()) as {
    headers: Record<string, string>;
    body: string;
  }[];

/** An app with APNs credentials whose key the APNs stand-in trusts. */
const apnsApp = async () => {
  const app = await createApp();
  const { privatePem: private_key, publicPem } = await ecKeyPair();
  const key_id = randomHex(5).toUpperCase();
  const team_id = randomHex(5).toUpperCase();
  const topic = `com.example.${randomHex(4)}`;
  await standIn("/apns/_keys", {
    key_id,
    team_id,
    topics: [topic],
    public_key_pem: publicPem,
  });
  const put = await admin(`/apps/${app.appkey}/credentials/apns`, {
    method: "PUT",
    json: { team_id, key_id, private_key, topic, environment: "production" },
  });
  expect(put.status).toBe(200);
  return { app, topic };
};

const iosDevice = async (app: TestApp, userId?: string) => {
  const token = randomHex(32);
  const r = await psp(app, "POST", "/psp/devices", {
    device_token: token,
    platform: "ios",
    provider: "apns",
    user_id: userId,
  });
  expect(r.ret).toBe("SUCCESS");
  return token;
};

const settled = async (app: TestApp, taskId: string) => {
  for (let i = 0; i < 500; i++) {
    const { data } = await psp(app, "GET", `/psp/push/status?task_id=${taskId}`);
    if (["done", "failed", "cancelled", "expired"].includes(String(data.status))) return data;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("task did not settle");
};

const notification = {
  display_type: "notification",
  body: { title: "新订单", text: "你收到新订单推送消息", custom: { orderId: 47 } },
};
const silent = { display_type: "message", body: { custom: { push_type: "talk", content: "hi" } } };

describe("delivery to APNs", () => {
  it("sends a notification as an alert push, exactly as APNs expects it", async () => {
    const { app, topic } = await apnsApp();
    const token = await iosDevice(app);
    const { data } = await psp(app, "POST", "/psp/push/msg", {
      type: "unicast",
      device_tokens: token,
      payload: notification,
    });
    expect(await settled(app, String(data.task_id))).toMatchObject({
      status: "done",
      total: 1,
      sent: 1,
      failed: 0,
      by_channel: { apns: 1 },
    });
    const [push, ...more] = await received(token);
    expect(more).toEqual([]);
    expect(push?.headers).toMatchObject({
      "apns-topic": topic,
      "apns-push-type": "alert",
      "apns-priority": "10",
    });
    expect(JSON.parse(push?.body ?? "{}")).toMatchObject({
      aps: { alert: { title: "新订单", body: "你收到新订单推送消息" }, sound: "default" },
    });
  });

  it("sends a silent message as a background push when the user is not in the foreground", async () => {
    const { app } = await apnsApp();
    const token = await iosDevice(app, "u1");
    const { data } = await psp(app, "POST", "/psp/push/msg", {
      type: "customizedcast",
      alias: "u1",
      payload: silent,
    });
    expect(await settled(app, String(data.task_id))).toMatchObject({
      status: "done",
      sent: 2,
      by_channel: { mqtt: 1, apns: 1 },
    });
    const [push] = await received(token);
    expect(push?.headers).toMatchObject({ "apns-push-type": "background", "apns-priority": "5" });
    expect(JSON.parse(push?.body ?? "{}").aps).toEqual({ "content-available": 1 });
  });

  it("unregisters a device APNs answers 410 Unregistered for", async () => {
    const { app } = await apnsApp();
    const token = await iosDevice(app);
    await standIn("/apns/_tokens", { token, state: "unregistered" });
    const { data } = await psp(app, "POST", "/psp/push/msg", {
      type: "unicast",
      device_tokens: token,
      payload: notification,
    });
    expect(await settled(app, String(data.task_id))).toMatchObject({
      status: "failed",
      failed: 1,
      failures: [{ device_token: token, reason: "Unregistered" }],
    });
    expect(
      await env.DB.prepare("SELECT 1 FROM devices WHERE device_token = ?").bind(token).first(),
    ).toBeNull();
  });

  it("retries after 503 and pushes once when APNs recovers", async () => {
    const { app } = await apnsApp();
    const token = await iosDevice(app);
    const other = await iosDevice(app);
    await standIn("/apns/_fail", { token, count: 2, status: 503, reason: "ServiceUnavailable" });
    const { data } = await psp(app, "POST", "/psp/push/msg", {
      type: "listcast",
      device_tokens: `${token},${other}`,
      payload: notification,
    });
    expect(await settled(app, String(data.task_id))).toMatchObject({ status: "done", sent: 2, failed: 0 });
    // The healthy device was accepted on the first attempt and not pushed again by the retries.
    expect(await received(other)).toHaveLength(1);
    expect(await received(token)).toHaveLength(1);
  });

  it("records the targets as RETRIES_EXHAUSTED once the dead-letter queue has the batch", async () => {
    const { app } = await apnsApp();
    const token = await iosDevice(app);
    await standIn("/apns/_fail", { token, count: 100, status: 503, reason: "ServiceUnavailable" });
    const { data } = await psp(app, "POST", "/psp/push/msg", {
      type: "unicast",
      device_tokens: token,
      payload: notification,
    });
    expect(await settled(app, String(data.task_id))).toMatchObject({
      status: "failed",
      failures: [{ device_token: token, reason: "RETRIES_EXHAUSTED" }],
    });
    expect(await received(token)).toEqual([]);
    // The trace keeps the provider's last answer.
    const trace = await psp(app, "GET", `/psp/push/trace?task_id=${data.task_id}&device_token=${token}`);
    const events = trace.data.events as { detail: string }[];
    expect(events.at(-1)?.detail).toBe(
      "gave up after the last retry; the last answer was ServiceUnavailable",
    );
    // Six attempts, paused by the app's APNs breaker (2, 4, 8 s here), then the dead-letter queue.
  }, 60_000);

  it("sends production_mode=false pushes to test devices only", async () => {
    const { app } = await apnsApp();
    const test = await iosDevice(app);
    const plain = await iosDevice(app);
    await admin(`/apps/${app.appkey}/test-devices`, { json: { device_token: test } });
    const { data } = await psp(app, "POST", "/psp/push/msg", {
      type: "broadcast",
      production_mode: "false",
      payload: notification,
    });
    expect(await settled(app, String(data.task_id))).toMatchObject({
      status: "done",
      total: 1,
      sent: 1,
      by_channel: { mqtt: 0 },
    });
    expect(await received(test)).toHaveLength(1);
    expect(await received(plain)).toEqual([]);
  });
});
