import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { taskHub } from "../../src/hubs/task-hub";
import { msgIdFor } from "../../src/push/msg-id";
import type { TestApp } from "../helpers/psp";
import {
  device,
  hookUp,
  notification,
  providerApp,
  psp,
  type Received,
  hooked as received,
  settled,
  standIn,
} from "../helpers/push";

// CONTRACT §2 "Delivery truth" webhooks, against test/stand-ins/webhooks.ts, which verifies
// X-Signature = hex(HMAC-SHA256(app_master_secret, X-Timestamp + "." + body)) and can fail on demand.

/** An app whose callback_url is a stand-in receiver that knows `secret` (the app's own by default). */
const hookedApp = async (secret?: string) => {
  const app = await providerApp();
  return { app, id: await hookUp(app, secret) };
};
const until = async (id: string, ok: (r: Received) => boolean) => {
  let r = await received(id);
  for (let i = 0; i < 200 && !ok(r); i++) {
    await new Promise((res) => setTimeout(res, 50));
    r = await received(id);
  }
  return r;
};
const events = (r: Received) => r.deliveries.flatMap((d) => d.events);
const finished = (r: Received) => events(r).some((e) => e.type === "task.finished");
const push = async (app: TestApp, tokens: string[], policy?: Record<string, unknown>) => {
  const r = await psp(app, "POST", "/psp/push/msg", {
    type: "listcast",
    device_tokens: tokens.join(","),
    payload: notification,
    ...(policy ? { policy } : {}),
  });
  return String(r.body.data.task_id);
};
/** Starts in 3 s: time to arm a fault in the task's TaskHub before the consumer gets to it. */
const soon = () => ({ start_time: new Date(Date.now() + 3000).toISOString() });
/** Calls of `method` the TaskHub's armed fault has still to fail (0: it failed them all). */
const faultsLeft = (taskId: string, method: string) =>
  runInDurableObject(
    taskHub(env, taskId),
    (_, state) =>
      state.storage.sql
        .exec<{ times: number }>("SELECT times FROM faults WHERE method = ?", method)
        .toArray()[0]?.times,
  );
const at = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/);
/** Events in order of type and device, for comparing whole sets. */
const byKey = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  `${a.type}|${a.device_token ?? ""}`.localeCompare(`${b.type}|${b.device_token ?? ""}`);
const sortedEvents = (r: Received) => events(r).sort(byKey);

describe("webhooks", () => {
  it("signed, batched events: target.failed, device.dead and task.finished with its counts", async () => {
    const { app, id } = await hookedApp();
    const good = await device(app, "apns");
    const bad = await device(app, "apns");
    await standIn("/apns/_tokens", { token: bad, state: "bad" });
    const taskId = await push(app, [good, bad, "feedface"]);
    await settled(app, taskId);
    const r = await until(id, finished);
    expect(r.refused).toBe(0);
    for (const d of r.deliveries) expect(Number(d.timestamp)).toBeGreaterThan(Date.now() - 60_000);
    const all = events(r);

    expect(all).toContainEqual({
      type: "target.failed",
      at,
      task_id: taskId,
      msg_id: msgIdFor(taskId, { token: "feedface" }),
      device_token: "feedface",
      reason: "UNKNOWN_DEVICE",
    });
    const badEvent = {
      at,
      task_id: taskId,
      msg_id: msgIdFor(taskId, { token: bad }),
      device_token: bad,
      reason: "BadDeviceToken",
    };
    expect(all).toContainEqual({ type: "target.failed", ...badEvent });
    expect(all).toContainEqual({ type: "device.dead", ...badEvent });
    // Batched: the two events of the bad device came in one POST.
    expect(r.deliveries.some((d) => d.events.filter((e) => e.device_token === bad).length === 2)).toBe(true);
    expect(all.filter((e) => e.type === "task.finished")).toEqual([
      {
        type: "task.finished",
        at,
        task_id: taskId,
        counts: { total: 3, sent: 1, delivered: 0, failed: 2, received: 0, opened: 0 },
      },
    ]);
  });

  it("retries with backoff until a 2xx: two 503s, then delivered once", async () => {
    const { app, id } = await hookedApp();
    await standIn("/hooks/_fail", { id, count: 2, status: 503 });
    const taskId = await push(app, [await device(app, "fcm")]);
    await settled(app, taskId);
    const r = await until(id, finished);
    expect(r.attempts).toBe(3);
    expect(r.deliveries).toHaveLength(1);
    expect(events(r)).toEqual([expect.objectContaining({ type: "task.finished", task_id: taskId })]);
  });

  it("a bad signature is refused and retried until the dead-letter queue; pushes are not held up", async () => {
    const { app, id } = await hookedApp("not-the-app-secret");
    const taskId = await push(app, [await device(app, "getui")]);
    // The push itself ends as usual while its webhook keeps failing.
    expect(await settled(app, taskId)).toMatchObject({ status: "done", sent: 1 });
    // 1 attempt + max_retries (8) of wrangler.toml's webhook consumer, then the dead-letter queue.
    const r = await until(id, (v) => v.attempts >= 9);
    expect(r).toMatchObject({ attempts: 9, refused: 9, deliveries: [] });
  }, 30_000);
});

// Events are at-least-once: each is written to the task's TaskHub outbox with the state change
// it reports and sent from there (src/hubs/task-outbox.ts), so a queue send that fails, or a
// TaskHub call that fails after the task's status was set, loses nothing.
describe("webhook events survive a failing queue send", () => {
  /** A listcast to a good FCM device, a dead APNs device and an unknown token; its 4 events. */
  const threeTargets = async () => {
    const { app, id } = await hookedApp();
    const good = await device(app, "fcm");
    const bad = await device(app, "apns");
    await standIn("/apns/_tokens", { token: bad, state: "bad" });
    const taskId = await push(app, [good, bad, "feedface"], soon());
    const badEvent = {
      at,
      task_id: taskId,
      msg_id: msgIdFor(taskId, { token: bad }),
      device_token: bad,
      reason: "BadDeviceToken",
    };
    const expected = [
      { type: "device.dead", ...badEvent },
      {
        type: "target.failed",
        at,
        task_id: taskId,
        msg_id: msgIdFor(taskId, { token: "feedface" }),
        device_token: "feedface",
        reason: "UNKNOWN_DEVICE",
      },
      { type: "target.failed", ...badEvent },
      {
        type: "task.finished",
        at,
        task_id: taskId,
        counts: { total: 3, sent: 1, delivered: 0, failed: 2, received: 0, opened: 0 },
      },
    ].sort(byKey);
    return { app, id, taskId, expected };
  };

  // The TaskHub's sends, in order: the expansion's event, the APNs answer's two, task.finished.
  it.each([
    ["the expansion's target.failed (UNKNOWN_DEVICE)", 0],
    ["the provider answer's target.failed and device.dead", 1],
    ["task.finished, the task's last event", 2],
  ])(
    "the send of %s fails once: every event still arrives, once",
    async (_what, skip) => {
      const { app, id, taskId, expected } = await threeTargets();
      await taskHub(env, taskId).injectFault("webhookSend", 1, skip);
      expect(await settled(app, taskId)).toMatchObject({ status: "done", total: 3, sent: 1, failed: 2 });
      const r = await until(id, (v) => events(v).length >= expected.length);
      expect(sortedEvents(r)).toEqual(expected);
      // The send did fail: the fault was used up.
      expect(await faultsLeft(taskId, "webhookSend")).toBe(0);
    },
    30_000,
  );

  it("the TaskHub fails to take task.finished after a batch set the task done: the batch's retry sends it, once", async () => {
    const { app, id, taskId, expected } = await threeTargets();
    await taskHub(env, taskId).injectFault("finished", 1);
    expect(await settled(app, taskId)).toMatchObject({ status: "done" });
    const r = await until(id, (v) => events(v).length >= expected.length);
    expect(sortedEvents(r)).toEqual(expected);
    expect(await faultsLeft(taskId, "finished")).toBe(0);
  }, 30_000);

  it("the TaskHub fails to take task.finished after the task's only page set it failed: the page's retry sends it", async () => {
    const { app, id } = await hookedApp();
    const taskId = await push(app, ["feedface"], soon());
    await taskHub(env, taskId).injectFault("finished", 1);
    expect(await settled(app, taskId)).toMatchObject({ status: "failed", total: 1, failed: 1 });
    const r = await until(id, (v) => events(v).length >= 2);
    expect(sortedEvents(r)).toEqual([
      {
        type: "target.failed",
        at,
        task_id: taskId,
        msg_id: msgIdFor(taskId, { token: "feedface" }),
        device_token: "feedface",
        reason: "UNKNOWN_DEVICE",
      },
      {
        type: "task.finished",
        at,
        task_id: taskId,
        counts: { total: 1, sent: 0, delivered: 0, failed: 1, received: 0, opened: 0 },
      },
    ]);
    expect(await faultsLeft(taskId, "finished")).toBe(0);
  }, 30_000);
});
