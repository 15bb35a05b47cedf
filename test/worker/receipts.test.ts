import { describe, expect, it } from "vitest";
import { msgIdFor } from "../../src/push/msg-id";
import { pspSigned, type TestApp } from "../helpers/psp";
import { device, notification, providerApp, psp, receivedBy, settled, standIn } from "../helpers/push";

// CONTRACT §2 "Delivery truth": receipts through POST /psp/receipts, and a `received` receipt
// that comes before a target's provider send cancels that send. Receipts over MQTT and PUBACKs:
// test/e2e/delivery-truth.test.ts.

type Trace = { state: string; why: string | null; events: { state: string; detail: string }[] };
const trace = async (app: TestApp, taskId: string, by: string) =>
  (await psp(app, "GET", `/psp/push/trace?task_id=${taskId}&${by}`)).body.data as unknown as Trace;
const receipts = (app: TestApp, list: { msg_id: string; state: string }[]) =>
  psp(app, "POST", "/psp/receipts", { receipts: list });
const push = async (app: TestApp, token: string) => {
  const r = await psp(app, "POST", "/psp/push/msg", {
    type: "unicast",
    device_tokens: token,
    payload: notification,
  });
  return String(r.body.data.task_id);
};

describe("POST /psp/receipts", () => {
  it("counts only known msg_ids of the app; received, then opened, never back down", async () => {
    const app = await providerApp();
    const other = await providerApp();
    const token = await device(app, "apns", "u1");
    const otherToken = await device(other, "apns", "u1");
    const taskId = await push(app, token);
    const otherTask = await push(other, otherToken);
    await settled(app, taskId);
    await settled(other, otherTask);
    const mine = msgIdFor(taskId, { userId: "u1" });

    const first = await receipts(app, [
      { msg_id: mine, state: "received" },
      { msg_id: `${taskId}.0000000000000000`, state: "received" },
      { msg_id: msgIdFor(otherTask, { userId: "u1" }), state: "opened" },
      { msg_id: "not-a-msg-id", state: "opened" },
    ]);
    expect(first.body).toEqual({ ret: "SUCCESS", data: { accepted: 1 } });
    expect((await receipts(app, [{ msg_id: mine, state: "opened" }])).body.data).toEqual({ accepted: 1 });
    expect((await receipts(app, [{ msg_id: mine, state: "received" }])).body.data).toEqual({ accepted: 1 });

    expect(await settled(app, taskId)).toMatchObject({
      total: 2,
      sent: 2,
      received: 2,
      opened: 2,
      received_by_channel: { mqtt: 1, apns: 1, getui: 0, fcm: 0 },
      opened_by_channel: { mqtt: 1, apns: 1, getui: 0, fcm: 0 },
    });
    const t = await trace(app, taskId, `device_token=${token}`);
    expect(t).toMatchObject({ state: "opened", why: null });
    expect(t.events.map((e) => e.state)).toEqual(["accepted", "routed", "sent", "received", "opened"]);
    // The other app's task was not touched.
    expect(await settled(other, otherTask)).toMatchObject({ received: 0, opened: 0 });
  });

  it("dismissed: why says so; opened afterwards still counts", async () => {
    const app = await providerApp();
    const token = await device(app, "fcm");
    const taskId = await push(app, token);
    await settled(app, taskId);
    const msgId = msgIdFor(taskId, { token });
    await receipts(app, [{ msg_id: msgId, state: "dismissed" }]);
    expect(await trace(app, taskId, `device_token=${token}`)).toMatchObject({
      state: "dismissed",
      why: "the user dismissed it without opening it",
    });
    await receipts(app, [{ msg_id: msgId, state: "opened" }]);
    expect((await trace(app, taskId, `device_token=${token}`)).state).toBe("opened");
  });

  it("a received receipt before the provider send cancels it: the device is not notified twice", async () => {
    const app = await providerApp();
    const token = await device(app, "apns", "u1");
    // The first APNs attempt answers 503 with Retry-After: 2, so the send waits in the queue.
    await standIn("/apns/_fail", {
      token,
      count: 1,
      status: 503,
      reason: "ServiceUnavailable",
      retry_after: 2,
    });
    const taskId = await push(app, token);
    for (let i = 0; i < 100; i++) {
      const t = await trace(app, taskId, `device_token=${token}`);
      if (t.events?.some((e) => e.state === "retry")) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // The app was in the foreground after all: it got the MQTT copy and says so.
    const r = await receipts(app, [{ msg_id: msgIdFor(taskId, { userId: "u1" }), state: "received" }]);
    expect(r.body.data).toEqual({ accepted: 1 });
    expect(await settled(app, taskId)).toMatchObject({
      status: "done",
      sent: 1,
      received: 2,
      by_channel: { mqtt: 1, apns: 0 },
      received_by_channel: { mqtt: 1, apns: 1 },
    });
    // The retry found nothing to send: APNs accepted nothing for the device.
    expect(await receivedBy("apns", token)).toEqual([]);
    const t = await trace(app, taskId, `device_token=${token}`);
    expect(t.state).toBe("received");
    expect(t.events.map((e) => e.state)).toEqual(["accepted", "routed", "retry", "received"]);
    expect(t.events[3]?.detail).toBe("receipt from the partner API; the provider send is cancelled");
  }, 20_000);

  it("refuses bad bodies in the psp envelope", async () => {
    const app = await providerApp();
    const notJson = await pspSigned(app, "POST", "/psp/receipts", "{nope");
    expect([
      notJson.status,
      ((await notJson.json()) as { data: { error_code: number } }).data.error_code,
    ]).toEqual([400, 2008]);
    for (const body of [{}, { receipts: [] }, { receipts: [{ msg_id: "a.b", state: "read" }] }]) {
      const r = await psp(app, "POST", "/psp/receipts", body);
      expect([r.status, r.body.ret, r.body.data.error_code]).toEqual([400, "FAIL", 1001]);
    }
  });
});
