import { describe, expect, it } from "vitest";
import { msgIdFor } from "../../src/push/msg-id";
import { createApp, type TestApp } from "../helpers/psp";
import {
  device,
  notification,
  type Provider,
  providerApp,
  psp,
  settled,
  silent,
  standIn,
} from "../helpers/push";

// CONTRACT §2 "Delivery truth": one push followed to one device from the API alone (status,
// targets, trace) on APNs, Getui and FCM, with the failures. MQTT and receipts: receipts.test.ts
// and test/e2e/delivery-truth.test.ts.

type Event = { at: string; state: string; channel: string | null; detail: string };
type Trace = { task_id: string; msg_id: string; state: string; why: string | null; events: Event[] };

const trace = async (app: TestApp, taskId: string, by: string) => {
  const r = await psp(app, "GET", `/psp/push/trace?task_id=${taskId}&${by}`);
  return { status: r.status, body: r.body, data: r.body.data as unknown as Trace };
};
const targets = async (app: TestApp, query: string) => {
  const r = await psp(app, "GET", `/psp/push/targets?${query}`);
  return {
    status: r.status,
    body: r.body,
    data: r.body.data as { targets: Record<string, unknown>[]; next_cursor: string | null },
  };
};
const push = async (app: TestApp, body: Record<string, unknown>) => {
  const r = await psp(app, "POST", "/psp/push/msg", body);
  expect(r.body.ret).toBe("SUCCESS");
  return String(r.body.data.task_id);
};
const eventStates = (t: Trace) => t.events.map((e) => e.state);

const NAMES: Record<Provider, string> = { apns: "APNs", getui: "Getui", fcm: "FCM" };

describe("one push to one device, end to end", () => {
  for (const provider of ["apns", "getui", "fcm"] as const) {
    it(`${NAMES[provider]}: status, targets and trace agree, event by event`, async () => {
      const app = await providerApp();
      const token = await device(app, provider, "u1");
      const taskId = await push(app, { type: "unicast", device_tokens: token, payload: notification });
      const status = await settled(app, taskId);
      expect(status).toMatchObject({
        status: "done",
        total: 2,
        sent: 2,
        failed: 0,
        received: 0,
        opened: 0,
        by_channel: { mqtt: 1, [provider]: 1 },
        received_by_channel: { mqtt: 0, apns: 0, getui: 0, fcm: 0 },
        opened_by_channel: { mqtt: 0, apns: 0, getui: 0, fcm: 0 },
      });
      const msgId = msgIdFor(taskId, { userId: "u1" });
      const list = await targets(app, `task_id=${taskId}`);
      expect(list.data.next_cursor).toBeNull();
      expect(list.data.targets).toEqual([
        expect.objectContaining({
          msg_id: msgId,
          user_id: "u1",
          channel: "mqtt",
          state: "sent",
          reason: null,
        }),
        {
          msg_id: msgId,
          device_token: token,
          channel: provider,
          state: "sent",
          reason: null,
          updated_at: expect.any(String),
        },
      ]);
      const t = await trace(app, taskId, `device_token=${token}`);
      expect(t.data).toMatchObject({
        task_id: taskId,
        msg_id: msgId,
        state: "sent",
        why: `accepted by ${NAMES[provider]}; the app has not reported it received yet`,
      });
      expect(eventStates(t.data)).toEqual(["accepted", "routed", "sent"]);
      expect(t.data.events[1]).toMatchObject({
        channel: provider,
        detail: `notification: to ${NAMES[provider]} (and MQTT)`,
      });
      expect(t.data.events[2]?.detail).toMatch(
        provider === "apns"
          ? /^APNs accepted it \(apns-id [0-9a-f-]{36}\)$/
          : new RegExp(`^${NAMES[provider]} accepted it`),
      );
      for (const e of t.data.events) expect(Date.parse(e.at)).toBeGreaterThan(0);
    });
  }

  it("APNs Unregistered: failed, with the provider's reason and when the device was unregistered", async () => {
    const app = await providerApp();
    const token = await device(app, "apns");
    await standIn("/apns/_tokens", { token, state: "unregistered" });
    const taskId = await push(app, { type: "unicast", device_tokens: token, payload: notification });
    expect(await settled(app, taskId)).toMatchObject({ status: "failed", failed: 1, sent: 0 });
    const t = await trace(app, taskId, `device_token=${token}`);
    expect(t.data.state).toBe("failed");
    expect(t.data.why).toMatch(/^APNs: Unregistered, device unregistered at \d{4}-\d{2}-\d{2}T/);
    expect(eventStates(t.data)).toEqual(["accepted", "routed", "failed"]);
    expect(t.data.events[2]?.detail).toMatch(
      /^APNs answered Unregistered \(apns-id .*\); the device is unregistered$/,
    );
  });

  it("FCM 503 twice: the retries are events, then sent once", async () => {
    const app = await providerApp();
    const token = await device(app, "fcm");
    await standIn("/fcm/_fail", { token, count: 2, status: 503 });
    const taskId = await push(app, { type: "unicast", device_tokens: token, payload: notification });
    expect(await settled(app, taskId)).toMatchObject({ status: "done", sent: 1 });
    const t = await trace(app, taskId, `device_token=${token}`);
    expect(eventStates(t.data)).toEqual(["accepted", "routed", "retry", "retry", "sent"]);
    expect(t.data.events[2]?.detail).toMatch(/^FCM answered UNAVAILABLE .*; retrying$/);
  });

  it("a task that expires while a batch waits for its retry: the target is expired, and so is the task", async () => {
    const app = await providerApp();
    const token = await device(app, "fcm");
    await standIn("/fcm/_fail", { token, count: 1, status: 503, retry_after: 3 });
    const taskId = await push(app, {
      type: "unicast",
      device_tokens: token,
      payload: notification,
      policy: { expire_time: new Date(Date.now() + 1500).toISOString() },
    });
    expect(await settled(app, taskId)).toMatchObject({ status: "expired", sent: 0, failed: 0 });
    const t = await trace(app, taskId, `device_token=${token}`);
    expect(t.data).toMatchObject({ state: "expired", why: "expired before it could be handed to FCM" });
    expect(eventStates(t.data)).toEqual(["accepted", "routed", "retry", "expired"]);
  }, 20_000);

  it("an MQTT target nobody acknowledged expires with the task: expired before the device came online", async () => {
    const app = await createApp();
    const taskId = await push(app, {
      type: "customizedcast",
      alias: "sleeper",
      payload: silent,
      policy: { expire_time: new Date(Date.now() + 1000).toISOString() },
    });
    let t: Trace | undefined;
    for (let i = 0; i < 100; i++) {
      t = (await trace(app, taskId, "user_id=sleeper")).data;
      if (t.state === "expired") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(t).toMatchObject({ state: "expired", why: "expired before the device came online" });
    expect(t && eventStates(t)).toEqual(["accepted", "routed", "sent", "expired"]);
    expect(t?.events[2]?.detail).toContain("the user is offline");
  }, 20_000);

  it("pending while a batch waits for its retry; cancelled by the partner before it was sent", async () => {
    const app = await providerApp();
    const token = await device(app, "apns");
    await standIn("/apns/_fail", {
      token,
      count: 1,
      status: 503,
      reason: "ServiceUnavailable",
      retry_after: 2,
    });
    const taskId = await push(app, { type: "unicast", device_tokens: token, payload: notification });
    let t: Trace | undefined;
    for (let i = 0; i < 100 && !t?.events.some((e) => e.state === "retry"); i++) {
      await new Promise((r) => setTimeout(r, 50));
      t = (await trace(app, taskId, `device_token=${token}`)).data;
    }
    expect(t).toMatchObject({
      state: "pending",
      why: "waiting for another try: the last attempt failed with ServiceUnavailable",
    });
    expect((await psp(app, "POST", "/psp/push/cancel", { task_id: taskId })).body.ret).toBe("SUCCESS");
    expect(await settled(app, taskId)).toMatchObject({ status: "cancelled", sent: 0 });
    for (let i = 0; i < 100 && t?.state !== "cancelled"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      t = (await trace(app, taskId, `device_token=${token}`)).data;
    }
    expect(t).toMatchObject({ state: "cancelled", why: "cancelled by the partner before it was sent" });
    expect(t && eventStates(t)).toEqual(["accepted", "routed", "retry", "cancelled"]);
  }, 20_000);

  it("a never-registered token: failed UNKNOWN_DEVICE, no channel, and why says so", async () => {
    const app = await createApp();
    const taskId = await push(app, { type: "unicast", device_tokens: "feedface", payload: notification });
    await settled(app, taskId);
    const list = await targets(app, `task_id=${taskId}&state=failed`);
    expect(list.data.targets).toEqual([
      expect.objectContaining({
        device_token: "feedface",
        channel: null,
        state: "failed",
        reason: "UNKNOWN_DEVICE",
      }),
    ]);
    const t = await trace(app, taskId, "device_token=feedface");
    expect(t.data.why).toBe("the device token was never registered with POST /psp/devices");
  });
});

describe("GET /psp/push/targets and /psp/push/trace", () => {
  it("pages with next_cursor, filters by state, and every page is backed by the status numbers", async () => {
    const app = await createApp();
    const tokens = ["t1", "t2", "t3", "t4", "t5"];
    const taskId = await push(app, {
      type: "listcast",
      device_tokens: tokens.join(","),
      payload: notification,
    });
    expect(await settled(app, taskId)).toMatchObject({ total: 5, failed: 5 });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await targets(app, `task_id=${taskId}&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.data.targets.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.targets.map((t) => String(t.device_token)));
      cursor = page.data.next_cursor;
    } while (cursor);
    expect(seen.sort()).toEqual(tokens);
    expect((await targets(app, `task_id=${taskId}&state=sent`)).data).toEqual({
      targets: [],
      next_cursor: null,
    });
  });

  it("answers 404 / 1014 for an unknown task, 404 / 3002 for a target not in it, 400 / 1001 for bad queries", async () => {
    const app = await createApp();
    const other = await createApp();
    const taskId = await push(app, { type: "unicast", device_tokens: "t1", payload: notification });
    await settled(app, taskId);
    for (const path of [
      `/psp/push/targets?task_id=${taskId}`,
      `/psp/push/trace?task_id=${taskId}&device_token=t1`,
    ]) {
      const r = await psp(other, "GET", path);
      expect([r.status, r.body.data.error_code]).toEqual([404, 1014]);
    }
    const missing = await trace(app, taskId, "device_token=t2");
    expect([missing.status, missing.body.data.error_code]).toEqual([404, 3002]);
    for (const q of [
      `task_id=${taskId}&limit=501`,
      `task_id=${taskId}&state=lost`,
      `task_id=${taskId}&cursor=abc`,
      "limit=5",
    ]) {
      const r = await targets(app, q);
      expect([r.status, r.body.data.error_code]).toEqual([400, 1001]);
    }
    // trace takes exactly one of device_token and user_id
    for (const by of ["", "device_token=t1&user_id=u1"]) {
      const r = await trace(app, taskId, by);
      expect([r.status, r.body.data.error_code]).toEqual([400, 1001]);
    }
  });
});
