import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp, pspSigned, type TestApp } from "../helpers/psp";

type Json = { ret: string; data: Record<string, unknown> };
const psp = async (app: TestApp, method: string, path: string, body?: unknown) =>
  (await (await pspSigned(app, method, path, body === undefined ? "" : JSON.stringify(body))).json()) as Json;

const settled = async (app: TestApp, taskId: string) => {
  for (let i = 0; i < 100; i++) {
    const { data } = await psp(app, "GET", `/psp/push/status?task_id=${taskId}`);
    if (["done", "failed"].includes(String(data.status))) return data;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the task did not end");
};

const watchdog = () => env.TASK_WATCHDOG.get(env.TASK_WATCHDOG.idFromName("watchdog"));

describe("task watchdog: a task whose queue message was lost still goes out", () => {
  it("re-queues a task left queued for more than two minutes, once, and it ends as usual", async () => {
    const app = await createApp();
    // A task row whose queue message never ran, as after a restart that lost the local queue:
    // a real task of the API, set back to `queued` with a last change 10 minutes ago.
    const made = await psp(app, "POST", "/psp/push/msg", {
      type: "unicast",
      device_tokens: "feedface",
      payload: { display_type: "message", body: { custom: "x" } },
    });
    const taskId = String(made.data.task_id);
    await settled(app, taskId);
    const fresh = await psp(app, "POST", "/psp/push/msg", {
      type: "unicast",
      device_tokens: "feedbeef",
      payload: { display_type: "message", body: { custom: "y" } },
      policy: { start_time: new Date(Date.now() + 3_600_000).toISOString() },
    });
    await env.DB.prepare("UPDATE tasks SET status = 'queued', updated_at = ? WHERE id = ?")
      .bind(Date.now() - 600_000, taskId)
      .run();

    // Nothing else picks it up...
    await new Promise((r) => setTimeout(r, 300));
    expect((await psp(app, "GET", `/psp/push/status?task_id=${taskId}`)).data.status).toBe("queued");
    // ...until the watchdog's sweep (armed by the pushes above; armed again here to be sure).
    await watchdog().arm();
    expect(await runDurableObjectAlarm(watchdog())).toBe(true);
    const data = await settled(app, taskId);
    // Expanding again recorded nothing twice: still one target, failed as UNKNOWN_DEVICE.
    expect(data).toMatchObject({
      status: "failed",
      total: 1,
      failures: [{ device_token: "feedface", reason: "UNKNOWN_DEVICE" }],
    });
    // The sweep stamped it: it is not re-queued again until it has been stuck another two minutes.
    const row = await env.DB.prepare("SELECT updated_at FROM tasks WHERE id = ?")
      .bind(taskId)
      .first<{ updated_at: number }>();
    expect(Date.now() - (row?.updated_at ?? 0)).toBeLessThan(60_000);
    // A scheduled task is not the watchdog's: it stays scheduled.
    const scheduled = await psp(app, "GET", `/psp/push/status?task_id=${String(fresh.data.task_id)}`);
    expect(scheduled.data.status).toBe("scheduled");
  });
});
