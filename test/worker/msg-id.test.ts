import { describe, expect, it } from "vitest";
import { msgIdFor, taskIdOf } from "../../src/push/msg-id";
import { admin } from "../helpers/api";
import { device, notification, providerApp, psp, receivedBy, settled, silent } from "../helpers/push";

// CONTRACT §2 "Delivery truth": one msg_id per task and recipient, the same on every channel.
// The MQTT side (user property, embed_msg_id) is in test/e2e/delivery-truth.test.ts.

describe("msg_id on the providers", () => {
  it("APNs: a top-level msg_id beside aps; Getui and FCM: a data key; one id per user", async () => {
    const app = await providerApp();
    const ios = await device(app, "apns", "u1");
    const getui = await device(app, "getui", "u1");
    const fcm = await device(app, "fcm", "u2");
    const { body } = await psp(app, "POST", "/psp/push/msg", {
      type: "customizedcast",
      alias: "u1,u2",
      payload: notification,
    });
    const taskId = String(body.data.task_id);
    expect(await settled(app, taskId)).toMatchObject({ status: "done", failed: 0 });
    const u1 = msgIdFor(taskId, { userId: "u1" });
    const u2 = msgIdFor(taskId, { userId: "u2" });
    expect(u1).not.toBe(u2);
    expect(taskIdOf(u1)).toBe(taskId);

    const [apns] = await receivedBy("apns", ios);
    expect(apns).toMatchObject({ aps: { alert: { title: "新订单" } }, orderId: 47, msg_id: u1 });

    const [gt = {}] = await receivedBy("getui", getui);
    const gtData = (gt.push_message as { notification: { payload: string } }).notification.payload;
    expect(JSON.parse(gtData)).toEqual({ orderId: 47, msg_id: u1 });

    const [fm = {}] = await receivedBy("fcm", fcm);
    expect((fm.message as { data: Record<string, string> }).data).toEqual({
      payload: JSON.stringify({ orderId: 47 }),
      msg_id: u2,
    });
  });

  it("a device without a user gets an id of its own; a silent Getui transmission carries it too", async () => {
    const app = await providerApp();
    const cid = await device(app, "getui");
    const { body } = await psp(app, "POST", "/psp/push/msg", {
      type: "unicast",
      device_tokens: cid,
      payload: silent,
    });
    const taskId = String(body.data.task_id);
    await settled(app, taskId);
    const [gt = {}] = await receivedBy("getui", cid);
    const transmission = (gt.push_message as { transmission: string }).transmission;
    expect(JSON.parse(transmission)).toEqual({
      push_type: "talk",
      content: "hi",
      msg_id: msgIdFor(taskId, { token: cid }),
    });
  });

  it("PUT /api/admin/apps/:appkey takes embed_msg_id and callback_url, and shows them", async () => {
    const app = await providerApp();
    const put = await admin(`/apps/${app.appkey}`, {
      method: "PUT",
      json: { embed_msg_id: true, callback_url: "https://partner.example/hooks" },
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ embed_msg_id: true, callback_url: "https://partner.example/hooks" });
    const bad = await admin(`/apps/${app.appkey}`, { method: "PUT", json: { callback_url: "ftp://x" } });
    expect(bad.status).toBe(400);
    // The partner's own view keeps CONTRACT §2's fields only.
    const mine = await psp(app, "GET", "/psp/app");
    expect(Object.keys(mine.body.data).sort()).toEqual(
      [
        "android_payload_limit",
        "appkey",
        "enabled",
        "ios_payload_limit",
        "legacy_token",
        "name",
        "push_rate_limit",
      ].sort(),
    );
  });
});
