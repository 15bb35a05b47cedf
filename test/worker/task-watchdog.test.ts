import {
  createExecutionContext,
  createMessageBatch,
  env,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { randomHex } from "../../src/lib/crypto";
import type { PublishPacket } from "../../src/mqtt/codec";
import { msgIdFor, msgIdOn } from "../../src/push/msg-id";
import { STALLED_MS } from "../../src/push/resume";
import type { BatchMessage, QueueMessage, TaskPageMessage } from "../../src/push/tasks";
import { ORIGIN } from "../helpers/api";
import { mqttConnect } from "../helpers/mqtt-ws";
import { createApp, nextTimestamp, pspSigned, sign, type TestApp } from "../helpers/psp";
import { device, settled as ended, notification, providerApp, receivedBy } from "../helpers/push";

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

/**
 * A push queue that delivers nothing: what is sent to it is kept, for the test to hand to the
 * consumer or to leave lost, as the local queue loses what it holds when `wrangler dev` restarts.
 */
const losingQueue = () => {
  const kept: QueueMessage[] = [];
  const queue = {
    send: async (body: QueueMessage) => {
      kept.push(body);
    },
    sendBatch: async (messages: { body: QueueMessage }[]) => {
      kept.push(...messages.map((m) => m.body));
    },
  };
  return { kept, env: { ...env, PUSH_QUEUE: queue as unknown as Queue } as Env };
};

/** One message through the queue consumer the runtime runs; answers what it asked for (ack or retry). */
const consume = async (body: QueueMessage, on: Env = env) => {
  const batch = createMessageBatch<QueueMessage>("edge-push-delivery", [
    { id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, on);
  return getQueueResult(batch, ctx);
};

/** POST /psp/push/msg through the Worker's fetch entry point, on `on`'s bindings. */
const pushOn = async (on: Env, app: TestApp, body: unknown) => {
  const text = JSON.stringify(body);
  const timestamp = nextTimestamp();
  const signature = await sign("POST", `${ORIGIN}/psp/push/msg`, timestamp, text, app.app_master_secret);
  const headers = { "x-appkey": app.appkey, "x-timestamp": timestamp, "content-type": "application/json" };
  const req = new Request(`${ORIGIN}/psp/push/msg?sign=${signature}`, {
    method: "POST",
    headers,
    body: text,
  });
  return (await (await worker.fetch(req, on, createExecutionContext())).json()) as Json;
};

type Trace = { state: string; why: string | null; events: { state: string; detail: string }[] };
const trace = async (app: TestApp, taskId: string, by: string) =>
  (await psp(app, "GET", `/psp/push/trace?task_id=${taskId}&${by}`)).data as unknown as Trace;

describe("task watchdog: a task lost mid-way (sending, a batch message lost) is resumed", () => {
  it("sends the targets not yet handed over, once; nothing already sent goes out again", async () => {
    const app = await providerApp();
    const apns = await device(app, "apns", "w1");
    const fcm = await device(app, "fcm", "w2");
    const getui = await device(app, "getui", "w3");
    const token = String((await psp(app, "POST", "/psp/mqtt/token", { sub: "w1" })).data.token);
    const w1 = await mqttConnect(token, 5, "phone");
    w1.send({ type: "subscribe", messageId: 1, subscriptions: [{ topic: `${app.name}/user/w1/#`, qos: 1 }] });
    await w1.next("suback");

    // The task's message and the batches its expansion queues go to a queue that loses them;
    // the test plays the runtime: it delivers the task message and the APNs batch, and the
    // Getui batch, whose run dies after Getui took the push and before its answer is recorded
    // (the consumer asks for a retry, which is lost too). The FCM batch is never delivered.
    const lossy = losingQueue();
    const made = await pushOn(lossy.env, app, {
      type: "customizedcast",
      alias: "w1,w2,w3",
      payload: notification,
    });
    const taskId = String(made.data.task_id);
    const page = lossy.kept.splice(0);
    expect(page).toEqual([{ kind: "task", taskId }]);
    await consume(page[0] as QueueMessage, lossy.env);
    const batches = lossy.kept.splice(0) as BatchMessage[];
    const batchOf = (p: string) => batches.find((b) => b.provider === p) as BatchMessage;
    expect(batches.map((b) => b.provider).sort()).toEqual(["apns", "fcm", "getui"]);
    expect((await consume(batchOf("apns"))).explicitAcks).toHaveLength(1);
    const hub = env.TASK_HUB.get(env.TASK_HUB.idFromName(taskId));
    await hub.injectFault("record", 3);
    expect((await consume(batchOf("getui"))).retryMessages).toHaveLength(1);
    expect(await receivedBy("getui", getui)).toHaveLength(1);

    const before = await psp(app, "GET", `/psp/push/status?task_id=${taskId}`);
    expect(before.data).toMatchObject({ status: "sending", total: 6, sent: 4 });
    const pending = await psp(app, "GET", `/psp/push/targets?task_id=${taskId}&state=pending`);
    const waiting = (pending.data.targets as { device_token: string }[]).map((t) => t.device_token);
    expect(waiting.sort()).toEqual([fcm, getui].sort());

    // 20 minutes without progress, as far as the task's row and its TaskHub can tell.
    const ago = Date.now() - 20 * 60_000;
    await env.DB.prepare("UPDATE tasks SET updated_at = ? WHERE id = ?").bind(ago, taskId).run();
    await runInDurableObject(hub, (_, state) => {
      state.storage.sql.exec("UPDATE meta SET v = ? WHERE k = 'progress_at'", String(ago));
    });
    await watchdog().arm();
    expect(await runDurableObjectAlarm(watchdog())).toBe(true);

    // The FCM device gets its push; the Getui one is sent again once the dead run's claim has
    // lapsed (3 T), under the same request_id, which Getui refuses as a repeat: one push.
    expect(await ended(app, taskId)).toMatchObject({ status: "done", total: 6, sent: 6, failed: 0 });
    expect(await receivedBy("apns", apns)).toHaveLength(1);
    expect(await receivedBy("fcm", fcm)).toHaveLength(1);
    expect(await receivedBy("getui", getui)).toHaveLength(1);
    const g = await trace(app, taskId, `device_token=${getui}`);
    expect(g.events.map((e) => e.state)).toEqual(["accepted", "routed", "sent"]);
    expect(g.events[2]?.detail).toMatch(/^Getui already had request .* not sent again$/);
    for (const token of [apns, fcm])
      expect((await trace(app, taskId, `device_token=${token}`)).events.map((e) => e.state)).toEqual([
        "accepted",
        "routed",
        "sent",
      ]);
    // The MQTT topics were published at expansion only: one `sent` each, one copy on w1's phone.
    for (const user of ["w1", "w2", "w3"]) {
      const t = await trace(app, taskId, `user_id=${user}`);
      expect(t.events.filter((e) => e.state === "sent")).toHaveLength(1);
    }
    const copies = w1.packets.filter(
      (p) => p.type === "publish" && msgIdOn({ props: p.properties }) === msgIdFor(taskId, { userId: "w1" }),
    ) as PublishPacket[];
    expect(copies).toHaveLength(1);
    w1.close();
  }, 30_000);
});

/** A TaskHub's meta rows (cursor, expanded, progress_at, ...). */
const metaOf = (taskId: string) =>
  runInDurableObject(env.TASK_HUB.get(env.TASK_HUB.idFromName(taskId)), (_, state) =>
    Object.fromEntries(
      state.storage.sql
        .exec<{ k: string; v: string }>("SELECT k, v FROM meta")
        .toArray()
        .map((r) => [r.k, r.v]),
    ),
  );

/** Makes a task look untouched since `at`, in D1 and in its TaskHub. */
const ageTask = async (taskId: string, at: number) => {
  await env.DB.prepare("UPDATE tasks SET updated_at = ? WHERE id = ?").bind(at, taskId).run();
  await runInDurableObject(env.TASK_HUB.get(env.TASK_HUB.idFromName(taskId)), (_, state) => {
    state.storage.sql.exec("UPDATE meta SET v = ? WHERE k = 'progress_at'", String(at));
  });
};

describe("task watchdog: a task cancelled while one of its messages was lost ends", () => {
  it("cancels the targets its lost batch left pending, 15 minutes on; nothing is sent", async () => {
    const app = await providerApp();
    const apns = await device(app, "apns", "c1");
    const fcm = await device(app, "fcm", "c2");
    // The task's page runs, its APNs batch is delivered, its FCM batch is lost; then the partner
    // cancels the task. Nothing will ever end the FCM target but the watchdog.
    const lossy = losingQueue();
    const made = await pushOn(lossy.env, app, {
      type: "customizedcast",
      alias: "c1,c2",
      payload: notification,
    });
    const taskId = String(made.data.task_id);
    await consume(lossy.kept.splice(0)[0] as QueueMessage, lossy.env);
    const batches = lossy.kept.splice(0) as BatchMessage[];
    expect(batches.map((b) => b.provider).sort()).toEqual(["apns", "fcm"]);
    expect(
      (await consume(batches.find((b) => b.provider === "apns") as BatchMessage)).explicitAcks,
    ).toHaveLength(1);
    const cancel = await psp(app, "POST", "/psp/push/cancel", { task_id: taskId });
    expect(cancel).toMatchObject({ ret: "SUCCESS", data: { status: "cancelled" } });
    const open = await psp(app, "GET", `/psp/push/targets?task_id=${taskId}&state=pending`);
    expect((open.data.targets as { device_token: string }[]).map((t) => t.device_token)).toEqual([fcm]);

    // Cancelled just over 15 minutes ago, nothing moved in its TaskHub since; the watchdog sweeps.
    await ageTask(taskId, Date.now() - STALLED_MS - 1000);
    await watchdog().arm();
    expect(await runDurableObjectAlarm(watchdog())).toBe(true);

    const t = await trace(app, taskId, `device_token=${fcm}`);
    expect(t).toMatchObject({ state: "cancelled", why: "cancelled by the partner before it was sent" });
    expect(t.events.map((e) => e.state)).toEqual(["accepted", "routed", "cancelled"]);
    expect(t.events[2]?.detail).toBe(
      "cancelled by the partner; its queue message was lost, so the watchdog ended it",
    );
    // The counts add up: 4 targets, 3 sent (two MQTT topics, APNs), 1 cancelled, none left open.
    const status = await psp(app, "GET", `/psp/push/status?task_id=${taskId}`);
    expect(status.data).toMatchObject({ status: "cancelled", total: 4, sent: 3, failed: 0 });
    const all = await psp(app, "GET", `/psp/push/targets?task_id=${taskId}`);
    const states = (all.data.targets as { channel: string; state: string; reason: string | null }[]).map(
      (x) => `${x.channel}:${x.state}:${x.reason}`,
    );
    expect(states.sort()).toEqual([
      "apns:sent:null",
      "fcm:cancelled:CANCELLED",
      "mqtt:sent:null",
      "mqtt:sent:null",
    ]);
    // Nothing was sent for the cancelled task: the FCM device never got it.
    await new Promise((r) => setTimeout(r, 500));
    expect(await receivedBy("fcm", fcm)).toHaveLength(0);
    expect(await receivedBy("apns", apns)).toHaveLength(1);
  }, 30_000);
});

describe("task watchdog: a page delivered again does not move the resume cursor back", () => {
  it("resumes from the page after the last one expanded; each device gets the push once", async () => {
    const app = await providerApp();
    // A broadcast of three pages (500, 500 and 1 device): 1,001 FCM devices, written to D1
    // directly (registering them one by one through the API would only take longer).
    const row = await env.DB.prepare("SELECT id FROM apps WHERE appkey = ?")
      .bind(app.appkey)
      .first<{ id: number }>();
    const tokens = Array.from({ length: 1001 }, () => `fcm-${randomHex(16)}`).sort();
    await env.DB.batch(
      tokens.map((t) =>
        env.DB.prepare(
          "INSERT INTO devices (app_id, device_token, platform, provider) VALUES (?, ?, 'android', 'fcm')",
        ).bind(row?.id, t),
      ),
    );
    // Pages 1 and 2 run; the queue then delivers page 1 again. Every batch and the message of
    // page 3 are lost.
    const lossy = losingQueue();
    const made = await pushOn(lossy.env, app, { type: "broadcast", payload: notification });
    const taskId = String(made.data.task_id);
    const pageOf = () => lossy.kept.splice(0).find((m) => m.kind === "task") as TaskPageMessage;
    const first = pageOf();
    await consume(first, lossy.env);
    const second = pageOf();
    expect(second.cursor).toBe(tokens[499]);
    await consume(second, lossy.env);
    expect(pageOf().cursor).toBe(tokens[999]);
    await consume(first, lossy.env);
    lossy.kept.splice(0);
    // The record still names page 3 as the one to expand next.
    const meta = await metaOf(taskId);
    expect(meta.cursor).toBe(tokens[999]);
    expect(meta.expanded).toBeUndefined();

    await ageTask(taskId, Date.now() - 20 * 60_000);
    await watchdog().arm();
    expect(await runDurableObjectAlarm(watchdog())).toBe(true);
    expect(await ended(app, taskId)).toMatchObject({ status: "done", total: 1001, sent: 1001, failed: 0 });
    expect((await metaOf(taskId)).expanded).toBe("1");
    for (const t of [tokens[0], tokens[500], tokens[1000]] as string[])
      expect(await receivedBy("fcm", t)).toHaveLength(1);
  }, 60_000);
});
