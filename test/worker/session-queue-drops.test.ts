import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { PublishPacket } from "../../src/mqtt/codec";
import { msgIdFor } from "../../src/push/msg-id";
import { mqttConnect } from "../helpers/mqtt-ws";
import { createApp, type TestApp } from "../helpers/psp";
import { hooked, hookUp, psp, settled, silent } from "../helpers/push";

// CONTRACT §2 "Delivery truth": a push that a persistent session's stored queue drops at its
// bound (1,000 messages or 4 MiB waiting, oldest first: src/hubs/user-store-queue.ts) is a
// failure in its task's records, with the reason, and a `target.failed` webhook event; one the
// user received on another session stays received, with no event. The bound is reached with the 4 MiB half: pushes are at most 4 KiB, but the user's
// own QoS 1 messages on its user topic may be 256 KiB, so 17 of them push the 3 older pushes out.

type Trace = { state: string; why: string | null; events: { state: string; detail: string }[] };
const trace = async (app: TestApp, taskId: string) =>
  (await psp(app, "GET", `/psp/push/trace?task_id=${taskId}&user_id=u1`)).body.data as unknown as Trace;
const until = async (what: string, ok: () => Promise<boolean> | boolean) => {
  for (let i = 0; i < 200; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};

describe("a push dropped at a session's queue bound", () => {
  it("fails its MQTT target with the reason (status, targets, trace, target.failed webhook); a received one stays received", async () => {
    const app = await createApp();
    const hook = await hookUp(app);
    const token = String((await psp(app, "POST", "/psp/mqtt/token", { sub: "u1" })).body.data.token);
    const filter = `${app.name}/user/u1/#`;
    const subscribe = async (c: Awaited<ReturnType<typeof mqttConnect>>) => {
      c.send({ type: "subscribe", messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] });
      await c.next("suback");
    };
    // The phone: a persistent 5.0 session (Clean Start 0, Session Expiry 1 h), then offline.
    const persistent = { clean: false, properties: { sessionExpiryInterval: 3600 } };
    const phone = await mqttConnect(token, 5, "phone", persistent);
    await subscribe(phone);
    phone.send({ type: "disconnect" });
    await phone.closed;

    // The first push also reaches a live tablet of the same user, which acknowledges it.
    const tablet = await mqttConnect(token, 5, "tablet");
    await subscribe(tablet);
    const push = async () => {
      const r = await psp(app, "POST", "/psp/push/msg", {
        type: "customizedcast",
        alias: "u1",
        payload: silent,
      });
      const taskId = String(r.body.data.task_id);
      await settled(app, taskId);
      return taskId;
    };
    const received = await push();
    const copy = (await tablet.next("publish")) as PublishPacket;
    tablet.send({ type: "puback", messageId: copy.messageId ?? 0 });
    await until("the PUBACK", async () => (await trace(app, received)).state === "received");
    tablet.close();

    // Two more pushes wait in the phone's queue only; the TaskHub of the second fails once when
    // told of the drop, so that report goes through the push queue.
    const dropped = [await push(), await push()];
    await env.TASK_HUB.get(env.TASK_HUB.idFromName(dropped[1] as string)).injectFault("dropped", 1);

    // Another client of the user publishes 17 messages of 250 KiB to its own topic: 4.25 MiB
    // waiting for the phone, so the oldest (the 3 pushes and the first message) are dropped.
    const pc = await mqttConnect(token, 5, "pc");
    const payload = new Uint8Array(250 * 1024);
    for (let i = 1; i <= 17; i++)
      pc.send({
        type: "publish",
        topic: `${app.name}/user/u1/chat`,
        qos: 1,
        messageId: i,
        payload,
        retain: false,
        dup: false,
      });
    // Every publish is acknowledged: the drop did not fail the delivery.
    await until("17 PUBACKs", () => pc.packets.filter((p) => p.type === "puback").length === 17);

    for (const taskId of dropped) {
      await until(`the drop in ${taskId}`, async () => (await trace(app, taskId)).state === "failed");
      const t = await trace(app, taskId);
      expect(t.why).toBe(
        "dropped: the device's MQTT session queue was full (1,000 messages or 4 MiB); the oldest were dropped",
      );
      expect(t.events.map((e) => e.state)).toEqual(["accepted", "routed", "sent", "failed"]);
      expect(t.events[3]?.detail).toBe(
        "dropped from the queue of MQTT session phone: it was full (1000 messages or 4 MiB waiting); the oldest go first",
      );
      const status = (await psp(app, "GET", `/psp/push/status?task_id=${taskId}`)).body.data;
      expect(status).toMatchObject({
        status: "done",
        total: 1,
        sent: 1,
        failed: 1,
        received: 0,
        failures: [{ device_token: `${app.name}/user/u1/talk`, reason: "SESSION_QUEUE_FULL" }],
      });
      const list = (await psp(app, "GET", `/psp/push/targets?task_id=${taskId}&state=failed`)).body.data;
      expect(list.targets).toEqual([
        {
          msg_id: msgIdFor(taskId, { userId: "u1" }),
          user_id: "u1",
          channel: "mqtt",
          state: "failed",
          reason: "SESSION_QUEUE_FULL",
          updated_at: expect.any(String),
        },
      ]);
    }
    // The one the tablet acknowledged was dropped from the phone's queue too, and is still received.
    const kept = await trace(app, received);
    expect(kept).toMatchObject({ state: "received", why: null });
    expect(kept.events.map((e) => e.state)).toEqual(["accepted", "routed", "sent", "received"]);
    expect((await psp(app, "GET", `/psp/push/status?task_id=${received}`)).body.data).toMatchObject({
      failed: 0,
      received: 1,
    });

    // The app's webhook hears of each drop that failed a target, as of any other failure (an MQTT
    // target has no device_token), whether the TaskHub was told at once or through the queue; of
    // the one received, nothing.
    const failedEvents = async () =>
      (await hooked(hook)).deliveries.flatMap((d) => d.events).filter((e) => e.type === "target.failed");
    await until("two target.failed events", async () => (await failedEvents()).length >= 2);
    await new Promise((r) => setTimeout(r, 500));
    const events = await failedEvents();
    expect(events).toHaveLength(2);
    for (const taskId of dropped)
      expect(events).toContainEqual({
        type: "target.failed",
        at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
        task_id: taskId,
        msg_id: msgIdFor(taskId, { userId: "u1" }),
        reason: "SESSION_QUEUE_FULL",
      });

    // The records say what the phone gets when it is back: its own messages, none of the pushes.
    const back = await mqttConnect(token, 5, "phone", persistent);
    const first = (await back.next("publish")) as PublishPacket;
    expect(first.topic).toBe(`${app.name}/user/u1/chat`);
    expect(back.packets.some((p) => p.type === "publish" && p.topic.endsWith("/talk"))).toBe(false);
    back.close();
    pc.close();
  }, 30_000);
});
