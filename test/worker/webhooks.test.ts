import { describe, expect, it } from "vitest";
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
const push = async (app: TestApp, tokens: string[]) => {
  const r = await psp(app, "POST", "/psp/push/msg", {
    type: "listcast",
    device_tokens: tokens.join(","),
    payload: notification,
  });
  return String(r.body.data.task_id);
};

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
    const at = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/);
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
