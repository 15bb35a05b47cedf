import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin } from "../helpers/api";
import { createApp, pspSigned, type TestApp } from "../helpers/psp";

type Json = { ret: string; data: Record<string, unknown> };
const post = async (app: TestApp, path: string, body: unknown) => {
  const res = await pspSigned(app, "POST", path, JSON.stringify(body));
  return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
};
const fail = (code: number) => ({ ret: "FAIL", data: { error_code: code, error_msg: expect.any(String) } });
const message = { display_type: "message", body: { custom: { push_type: "talk", content: "hi" } } };

const get = async (app: TestApp, path: string) => {
  const res = await pspSigned(app, "GET", path);
  return { status: res.status, body: (await res.json()) as Json };
};
const status = (app: TestApp, taskId: string) => get(app, `/psp/push/status?task_id=${taskId}`);

/** Polls the task until it ends (the queue consumer runs in the background). */
const settled = async (app: TestApp, taskId: string) => {
  for (let i = 0; i < 100; i++) {
    const { body } = await status(app, taskId);
    if (["done", "failed", "cancelled", "expired"].includes(String(body.data.status))) return body.data;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("task did not settle");
};

const device = (app: TestApp, d: Record<string, unknown>) => post(app, "/psp/devices", d);

describe("POST /psp/push/msg", () => {
  it("answers a task id at once, and a never-registered token fails as UNKNOWN_DEVICE", async () => {
    const app = await createApp();
    const { status: code, body } = await post(app, "/psp/push/msg", {
      type: "unicast",
      device_tokens: "deadbeef",
      payload: message,
    });
    expect(code).toBe(200);
    expect(body.ret).toBe("SUCCESS");
    const taskId = String(body.data.task_id);
    const data = await settled(app, taskId);
    expect(data).toMatchObject({
      task_id: taskId,
      status: "failed",
      total: 1,
      sent: 0,
      failed: 1,
      by_channel: { mqtt: 0, apns: 0, getui: 0, fcm: 0 },
      failures: [{ device_token: "deadbeef", reason: "UNKNOWN_DEVICE" }],
    });
  });

  it("publishes a customizedcast on the user's MQTT topic and fails devices without credentials", async () => {
    const app = await createApp();
    expect(
      (await device(app, { device_token: "a1b2", platform: "ios", provider: "apns", user_id: "u1" })).status,
    ).toBe(200);
    const { body } = await post(app, "/psp/push/msg", {
      type: "customizedcast",
      alias: "u1",
      payload: message,
    });
    const data = await settled(app, String(body.data.task_id));
    expect(data).toMatchObject({
      status: "done",
      total: 2,
      sent: 1,
      failed: 1,
      by_channel: { mqtt: 1, apns: 0 },
      failures: [{ device_token: "a1b2", reason: "NO_CREDENTIALS" }],
    });
  });

  it("handles a listcast of 500 tokens (more than D1 binds in one statement)", async () => {
    const app = await createApp();
    const tokens = Array.from({ length: 500 }, (_, i) => `tok${String(i).padStart(3, "0")}`);
    for (const t of tokens.slice(0, 3))
      await device(app, { device_token: t, platform: "android", provider: "fcm" });
    const { status: code, body } = await post(app, "/psp/push/msg", {
      type: "listcast",
      device_tokens: tokens.join(","),
      payload: message,
    });
    expect(code).toBe(200);
    const data = await settled(app, String(body.data.task_id));
    expect(data).toMatchObject({ status: "failed", total: 500, sent: 0, failed: 500 });
    // Every failure is a per-target record, paged through GET /psp/push/targets.
    const reasons: Record<string, number> = {};
    let cursor = "";
    do {
      const q = `task_id=${body.data.task_id}&state=failed&limit=200${cursor ? `&cursor=${cursor}` : ""}`;
      const { body: page } = await get(app, `/psp/push/targets?${q}`);
      for (const t of page.data.targets as { reason: string }[])
        reasons[t.reason] = (reasons[t.reason] ?? 0) + 1;
      cursor = String(page.data.next_cursor ?? "");
    } while (cursor);
    expect(reasons).toEqual({ NO_CREDENTIALS: 3, UNKNOWN_DEVICE: 497 });
    expect((data.failures as unknown[]).length).toBe(100);
  }, 30_000);

  it("reaches every user of a customizedcast of 200 aliases, on MQTT and their devices", async () => {
    const app = await createApp();
    const aliases = Array.from({ length: 200 }, (_, i) => `user${i}`);
    for (const u of aliases.slice(0, 150))
      await device(app, { device_token: `d-${u}`, platform: "android", provider: "fcm", user_id: u });
    const { body } = await post(app, "/psp/push/msg", {
      type: "customizedcast",
      alias: aliases.join(","),
      payload: message,
    });
    const data = await settled(app, String(body.data.task_id));
    // 200 user topics published, 150 devices without FCM credentials.
    expect(data).toMatchObject({ total: 350, sent: 200, failed: 150, by_channel: { mqtt: 200 } });
  }, 30_000);

  it("is idempotent with policy.out_biz_no", async () => {
    const app = await createApp();
    const body = { type: "broadcast", payload: message, policy: { out_biz_no: "order-42" } };
    const a = await post(app, "/psp/push/msg", body);
    const b = await post(app, "/psp/push/msg", body);
    expect(b.body.data.task_id).toBe(a.body.data.task_id);
    const { results } = await env.DB.prepare("SELECT id FROM tasks WHERE out_biz_no = 'order-42'").all();
    expect(results).toHaveLength(1);
  });

  it("refuses a payload over the app's iOS limit with 413 / 2022", async () => {
    const app = await createApp({ ios_payload_limit: 256 });
    const big = { display_type: "message", body: { custom: "x".repeat(300) } };
    expect(await post(app, "/psp/push/msg", { type: "broadcast", payload: big })).toMatchObject({
      status: 413,
      body: fail(2022),
    });
  });

  it("rate limits per app: 429, 2050 and Retry-After", async () => {
    const app = await createApp();
    await admin(`/apps/${app.appkey}`, { method: "PUT", json: { push_rate_limit: 1 } });
    // Five at once: even split over two seconds, one second gets three (more than 1).
    const results = await Promise.all(
      Array.from({ length: 5 }, () => post(app, "/psp/push/msg", { type: "broadcast", payload: message })),
    );
    const limited = results.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect(limited[0]?.body).toEqual(fail(2050));
    expect(limited[0]?.headers.get("retry-after")).toBe("1");
    // The count and the task are written together; a refused push's task is taken back.
    const { results: rows } = await env.DB.prepare(
      "SELECT t.id FROM tasks t JOIN apps a ON a.id = t.app_id WHERE a.appkey = ? ORDER BY t.id",
    )
      .bind(app.appkey)
      .all<{ id: string }>();
    const accepted = results.flatMap((r) =>
      r.status === 200 ? [(r.body.data as { task_id: string }).task_id] : [],
    );
    expect(rows.map((r) => r.id)).toEqual([...accepted].sort());
  });

  it.each(["msg", "config"])(
    "404 / 3001 for a groupcast (%s) to a group that does not exist, and no task",
    async (kind) => {
      const app = await createApp();
      const payload = kind === "msg" ? message : { body: "cache=2" };
      const body = { type: "groupcast", group_id: "no-such-group", payload };
      expect(await post(app, `/psp/push/${kind}`, body)).toMatchObject({ status: 404, body: fail(3001) });
      const { results } = await env.DB.prepare(
        "SELECT t.id FROM tasks t JOIN apps a ON a.id = t.app_id WHERE a.appkey = ?",
      )
        .bind(app.appkey)
        .all();
      expect(results).toHaveLength(0);
      // Once the group exists, the same push makes a task.
      expect((await pspSigned(app, "PUT", "/psp/groups/no-such-group", "{}")).status).toBe(200);
      const made = await post(app, `/psp/push/${kind}`, body);
      expect(made).toMatchObject({
        status: 200,
        body: { ret: "SUCCESS", data: { task_id: expect.any(String) } },
      });
    },
  );

  it("404 for a group of another app: groups are per app", async () => {
    const [a, b] = [await createApp(), await createApp()];
    expect((await pspSigned(a, "PUT", "/psp/groups/shared-name", "{}")).status).toBe(200);
    const body = { type: "groupcast", group_id: "shared-name", payload: message };
    expect(await post(b, "/psp/push/msg", body)).toMatchObject({ status: 404, body: fail(3001) });
  });

  it.each([
    [{ payload: message }, 1016],
    [{ type: "multicast", payload: message }, 2048],
    [{ type: "unicast", payload: message }, 1015],
    [{ type: "customizedcast", payload: message }, 2009],
    [{ type: "groupcast", payload: message }, 2016],
    [{ type: "broadcast" }, 1001],
    [{ type: "broadcast", payload: { body: {} } }, 1004],
    [{ type: "broadcast", payload: { display_type: "toast", body: {} } }, 1019],
    [{ type: "broadcast", payload: { display_type: "notification", body: {} } }, 1009],
    [{ type: "broadcast", payload: { display_type: "message", body: {} } }, 1003],
    [{ type: "broadcast", payload: message, policy: { start_time: "2020-01-01 00:00:00" } }, 2002],
    [{ type: "broadcast", payload: message, policy: { expire_time: "2020-01-01 00:00:00" } }, 2003],
  ])("refuses %j with 400 / %i and creates no task", async (body, code) => {
    const app = await createApp();
    expect(await post(app, "/psp/push/msg", body)).toMatchObject({ status: 400, body: fail(code) });
    const { results } = await env.DB.prepare(
      "SELECT t.id FROM tasks t JOIN apps a ON a.id = t.app_id WHERE a.appkey = ?",
    )
      .bind(app.appkey)
      .all();
    expect(results).toHaveLength(0);
  });

  it("refuses a body that is not JSON with 2008", async () => {
    const app = await createApp();
    const res = await pspSigned(app, "POST", "/psp/push/msg", "{nope");
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(fail(2008));
  });
});

describe("scheduling, cancel and status", () => {
  it("keeps a scheduled task until its start and cancels it", async () => {
    const app = await createApp();
    const start = new Date(Date.now() + 3600_000).toISOString();
    const { body } = await post(app, "/psp/push/msg", {
      type: "broadcast",
      payload: message,
      policy: { start_time: start },
    });
    const taskId = String(body.data.task_id);
    expect((await status(app, taskId)).body.data).toMatchObject({ status: "scheduled", total: 0 });
    expect(await post(app, "/psp/push/cancel", { task_id: taskId })).toMatchObject({
      status: 200,
      body: { ret: "SUCCESS" },
    });
    expect((await status(app, taskId)).body.data.status).toBe("cancelled");
    expect(await post(app, "/psp/push/cancel", { task_id: taskId })).toMatchObject({
      status: 400,
      body: fail(1028),
    });
  });

  it("answers 404 / 1014 for an unknown task, and another app's task is unknown too", async () => {
    const a = await createApp();
    const b = await createApp();
    const { body } = await post(a, "/psp/push/msg", { type: "broadcast", payload: message });
    expect(await status(a, "nope")).toEqual({ status: 404, body: fail(1014) });
    expect(await status(b, String(body.data.task_id))).toEqual({ status: 404, body: fail(1014) });
  });

  it("delivers config pushes as silent messages on <app>/user/<id>/config", async () => {
    const app = await createApp();
    const { body } = await post(app, "/psp/push/config", {
      type: "customizedcast",
      alias: "u9",
      payload: { body: "cache=2&submit=10" },
    });
    const data = await settled(app, String(body.data.task_id));
    expect(data).toMatchObject({ status: "done", by_channel: { mqtt: 1 } });
    const { body: trace } = await get(app, `/psp/push/trace?task_id=${body.data.task_id}&user_id=u9`);
    expect(trace.data).toMatchObject({ state: "sent" });
    expect((trace.data.events as { detail: string }[]).map((e) => e.detail).join("\n")).toContain(
      `published on ${app.name}/user/u9/config at QoS 1`,
    );
  });
});

describe("devices", () => {
  it("registers, re-registers and unregisters; 404 for an unknown token", async () => {
    const app = await createApp();
    expect(
      (await device(app, { device_token: "t1", platform: "android", provider: "getui", user_id: "u1" })).body,
    ).toEqual({
      ret: "SUCCESS",
      data: { device_token: "t1", platform: "android", provider: "getui", user_id: "u1" },
    });
    await device(app, { device_token: "t1", platform: "android", provider: "fcm", user_id: "u2" });
    const row = await env.DB.prepare(
      "SELECT provider, user_id FROM devices WHERE device_token = 't1'",
    ).first();
    expect(row).toEqual({ provider: "fcm", user_id: "u2" });
    const del = await pspSigned(app, "DELETE", "/psp/devices/t1");
    expect(del.status).toBe(200);
    expect((await pspSigned(app, "DELETE", "/psp/devices/t1")).status).toBe(404);
  });

  it.each([
    [{ device_token: "t1", platform: "ios", provider: "apns", user_id: "a/b" }],
    [{ device_token: "t 1", platform: "ios", provider: "apns" }],
    [{ device_token: "t1", platform: "android", provider: "apns" }],
    [{ device_token: "t1", platform: "windows", provider: "fcm" }],
  ])("refuses %j with 400 / 1001", async (d) => {
    const app = await createApp();
    expect(await device(app, d)).toMatchObject({ status: 400, body: fail(1001) });
  });
});
