import { and, eq, inArray, lt, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { createDb, type Db } from "../db/client";
import { apps, devices, tasks, taskTargets } from "../db/schema";
import { getCredentials } from "../services/credentials";
import { MAX_QUEUE_DELAY_S } from "../services/push-tasks";
import {
  type BatchMessage,
  expandPage,
  type MqttMessage,
  mqttMessageOf,
  publishTo,
  type TaskPageMessage,
} from "./expand";
import { deviceRecipient, msgIdFor } from "./msg-id";
import { apnsProvider } from "./providers/apns";
import { fcmProvider } from "./providers/fcm";
import { getuiProvider } from "./providers/getui";
import type { PushJob, PushProvider, SendResult } from "./providers/types";
import type { PushRequest } from "./request";
import { providerData } from "./route";

type QueueMessage = TaskPageMessage | BatchMessage | MqttMessage;

/** Exponential backoff for a retried batch: base, 2 × base, 4 × base, … at most 10 minutes (base: PUSH_RETRY_BASE_S, 5 s). */
export const backoffSeconds = (attempts: number, retryAfterS = 0, baseS = 5) =>
  Math.max(retryAfterS, Math.min(600, baseS * 2 ** Math.max(0, attempts - 1)));

const retryBase = (env: Env) => {
  const n = Number(env.PUSH_RETRY_BASE_S);
  return Number.isFinite(n) && n >= 0 ? n : 5;
};

const providers = (env: Env): Record<BatchMessage["provider"], PushProvider<never>> => ({
  apns: apnsProvider(env) as PushProvider<never>,
  getui: getuiProvider(env) as PushProvider<never>,
  fcm: fcmProvider(env) as PushProvider<never>,
});

const ENDED = ["cancelled", "expired", "done", "failed"];

/** Marks the task done (or failed, when nothing went out) once every batch has finished. */
const finishIfComplete = async (db: Db, taskId: string) => {
  await db
    .update(tasks)
    .set({
      status: sql`CASE WHEN ${tasks.sent} = 0 AND ${tasks.failed} > 0 THEN 'failed' ELSE 'done' END`,
      updatedAt: Date.now(),
    })
    .where(
      and(
        eq(tasks.id, taskId),
        eq(tasks.expanded, true),
        eq(tasks.pendingBatches, 0),
        inArray(tasks.status, ["queued", "sending"]),
      ),
    );
};

/** The channel and target keys of a batch or MQTT message. */
const keysOf = (m: BatchMessage | MqttMessage) =>
  m.kind === "mqtt"
    ? { channel: "mqtt", targets: m.topics }
    : { channel: m.provider, targets: m.targets.map((t) => t.token) };

/** Ends the pending targets of a batch with a reason; the batch no longer counts as pending. */
const closeBatch = async (
  db: Db,
  m: BatchMessage | MqttMessage,
  status: "failed" | "cancelled",
  reason: string,
) => {
  const { channel, targets } = keysOf(m);
  const closed: { t: string }[] = [];
  for (let i = 0; i < targets.length; i += 90) {
    const rows = await db
      .update(taskTargets)
      .set({ status, reason, updatedAt: Date.now() })
      .where(
        and(
          eq(taskTargets.taskId, m.taskId),
          eq(taskTargets.channel, channel),
          inArray(taskTargets.status, ["pending", "sending"]),
          inArray(taskTargets.target, targets.slice(i, i + 90)),
        ),
      )
      .returning({ t: taskTargets.target });
    closed.push(...rows);
  }
  await db
    .update(tasks)
    .set({
      failed: status === "failed" ? sql`${tasks.failed} + ${closed.length}` : tasks.failed,
      pendingBatches: sql`${tasks.pendingBatches} - 1`,
      updatedAt: Date.now(),
    })
    .where(eq(tasks.id, m.taskId));
  await finishIfComplete(db, m.taskId);
};

/** A task message: wait for its start time, expire it, or expand the next page of its audience. */
const runTask = async (env: Env, db: Db, m: TaskPageMessage): Promise<void> => {
  const task = await db.query.tasks.findFirst({ where: eq(tasks.id, m.taskId) });
  if (!task || ENDED.includes(task.status)) return;
  const now = Date.now();
  if (task.startAt !== null && task.startAt > now) {
    // Queues delay at most 12 h: a start a week ahead waits in several hops.
    await env.PUSH_QUEUE.send(m, {
      delaySeconds: Math.min(MAX_QUEUE_DELAY_S, Math.ceil((task.startAt - now) / 1000)),
    });
    return;
  }
  if (task.expireAt !== null && task.expireAt <= now) {
    await db.update(tasks).set({ status: "expired", updatedAt: now }).where(eq(tasks.id, task.id));
    return;
  }
  await db
    .update(tasks)
    .set({ status: "sending", updatedAt: now })
    .where(and(eq(tasks.id, task.id), inArray(tasks.status, ["scheduled", "queued"])));
  const next = await expandPage(env, db, task, m.cursor);
  if (next !== null)
    await env.PUSH_QUEUE.send({ kind: "task", taskId: task.id, cursor: next } satisfies TaskPageMessage);
  else await finishIfComplete(db, task.id);
};

/** A batch of one provider's devices: each target sent at most once, retries for transient failures. */
const runBatch = async (env: Env, db: Db, m: BatchMessage, message: Message): Promise<void> => {
  const task = await db.query.tasks.findFirst({ where: eq(tasks.id, m.taskId) });
  if (!task) return message.ack();
  if (task.status === "cancelled")
    return closeBatch(db, m, "cancelled", "CANCELLED").then(() => message.ack());
  const now = Date.now();
  if (task.expireAt !== null && task.expireAt <= now)
    return closeBatch(db, m, "failed", "EXPIRED").then(() => message.ack());
  const app = await db.query.apps.findFirst({ where: eq(apps.id, task.appId) });
  const creds = app ? await getCredentials<never>(db, env.CREDENTIALS_KEY, app.id, m.provider) : null;
  if (!creds) return closeBatch(db, m, "failed", "NO_CREDENTIALS").then(() => message.ack());

  // Claim the batch's pending targets first: a duplicate delivery of this message (queues are
  // at-least-once) finds them claimed and sends nothing. A claim older than CLAIM_TTL_MS is
  // taken to be from an attempt that died, and is claimed again.
  const tokens = m.targets.map((t) => t.token);
  const claimed = new Set<string>();
  for (let i = 0; i < tokens.length; i += 90) {
    const rows = await db
      .update(taskTargets)
      .set({ status: "sending", updatedAt: now })
      .where(
        and(
          eq(taskTargets.taskId, task.id),
          eq(taskTargets.channel, m.provider),
          inArray(taskTargets.target, tokens.slice(i, i + 90)),
          or(
            eq(taskTargets.status, "pending"),
            and(eq(taskTargets.status, "sending"), lt(taskTargets.updatedAt, now - CLAIM_TTL_MS)),
          ),
        ),
      )
      .returning({ t: taskTargets.target });
    for (const r of rows) claimed.add(r.t);
  }
  const pending = claimed;
  const req = JSON.parse(task.request) as PushRequest;
  const provider = providers(env)[m.provider];
  const sent: string[] = [];
  const again: string[] = [];
  const failed: { token: string; reason: string; remove: boolean }[] = [];
  let retryAfter: number | null = null;
  for (const t of m.targets) {
    if (!pending.has(t.token)) continue; // already accepted (or ended) in an earlier attempt
    const job: PushJob = {
      deviceToken: t.token,
      platform: t.platform,
      silent: req.displayType === "message",
      title: req.title,
      body: req.text,
      payload: providerData(req),
      expiresAt: req.expireAt,
      pushId: crypto.randomUUID(),
      msgId: msgIdFor(task.id, deviceRecipient(t)),
    };
    const result: SendResult = await provider.send(job, creds);
    if (result.ok) sent.push(t.token);
    else if (result.retry) {
      again.push(t.token);
      retryAfter = Math.max(retryAfter ?? 0, result.retryAfterS ?? 0);
    } else failed.push({ token: t.token, reason: result.reason, remove: result.removeDevice });
  }

  // Outcomes, counters and dead devices in one transaction.
  const now2 = Date.now();
  const inBatch = (tokens: string[]) =>
    and(
      eq(taskTargets.taskId, task.id),
      eq(taskTargets.channel, m.provider),
      inArray(taskTargets.target, tokens),
    );
  const writes: BatchItem<"sqlite">[] = [];
  for (let i = 0; i < sent.length; i += 90) {
    writes.push(
      db
        .update(taskTargets)
        .set({ status: "sent", updatedAt: now2 })
        .where(inBatch(sent.slice(i, i + 90))),
    );
  }
  for (let i = 0; i < again.length; i += 90) {
    writes.push(
      db
        .update(taskTargets)
        .set({ status: "pending", updatedAt: now2 })
        .where(inBatch(again.slice(i, i + 90))),
    );
  }
  for (const f of failed) {
    writes.push(
      db
        .update(taskTargets)
        .set({ status: "failed", reason: f.reason, updatedAt: now2 })
        .where(inBatch([f.token])),
    );
    if (f.remove)
      writes.push(
        db.delete(devices).where(and(eq(devices.appId, task.appId), eq(devices.deviceToken, f.token))),
      );
  }
  const counter = COUNTERS[m.provider];
  const done = retryAfter === null;
  writes.push(
    db
      .update(tasks)
      .set({
        sent: sql`${tasks.sent} + ${sent.length}`,
        failed: sql`${tasks.failed} + ${failed.length}`,
        [counter]: sql`${tasks[counter]} + ${sent.length}`,
        pendingBatches: done ? sql`${tasks.pendingBatches} - 1` : tasks.pendingBatches,
        updatedAt: now2,
      })
      .where(eq(tasks.id, task.id)),
  );
  await db.batch(writes as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  if (done) {
    await finishIfComplete(db, task.id);
    return message.ack();
  }
  message.retry({ delaySeconds: backoffSeconds(message.attempts, retryAfter ?? 0, retryBase(env)) });
};

/**
 * MQTT publishes whose hub call failed: published again. A hub that still fails keeps its
 * topic pending and the message is retried with backoff; after the last retry the dead-letter
 * queue records it as failed (HUB_UNAVAILABLE). Never counted as sent before a hub took it.
 */
const runMqtt = async (env: Env, db: Db, m: MqttMessage, message: Message): Promise<void> => {
  const task = await db.query.tasks.findFirst({ where: eq(tasks.id, m.taskId) });
  if (!task) return message.ack();
  if (task.status === "cancelled")
    return closeBatch(db, m, "cancelled", "CANCELLED").then(() => message.ack());
  const now = Date.now();
  if (task.expireAt !== null && task.expireAt <= now)
    return closeBatch(db, m, "failed", "EXPIRED").then(() => message.ack());
  const app = await db.query.apps.findFirst({ where: eq(apps.id, task.appId) });
  if (!app) return closeBatch(db, m, "failed", "NO_APP").then(() => message.ack());
  const claimed = await db
    .update(taskTargets)
    .set({ status: "sending", updatedAt: now })
    .where(
      and(
        eq(taskTargets.taskId, task.id),
        eq(taskTargets.channel, "mqtt"),
        inArray(taskTargets.target, m.topics),
        or(
          eq(taskTargets.status, "pending"),
          and(eq(taskTargets.status, "sending"), lt(taskTargets.updatedAt, now - CLAIM_TTL_MS)),
        ),
      ),
    )
    .returning({ t: taskTargets.target });
  const req = JSON.parse(task.request) as PushRequest;
  const topics = claimed.map((r) => r.t);
  const results = await Promise.allSettled(
    topics.map((t) => publishTo(env, app, mqttMessageOf(req, t, task.id, app))),
  );
  const now2 = Date.now();
  const writes: BatchItem<"sqlite">[] = [];
  let sent = 0;
  let delivered = 0;
  results.forEach((r, i) => {
    const where = and(
      eq(taskTargets.taskId, task.id),
      eq(taskTargets.channel, "mqtt"),
      eq(taskTargets.target, topics[i] as string),
    );
    if (r.status === "fulfilled") {
      sent += 1;
      delivered += r.value.delivered;
      writes.push(db.update(taskTargets).set({ status: "sent", reason: null, updatedAt: now2 }).where(where));
    } else {
      const reason = `HUB_ERROR: ${(r.reason instanceof Error ? r.reason.message : String(r.reason)).slice(0, 200)}`;
      writes.push(db.update(taskTargets).set({ status: "pending", reason, updatedAt: now2 }).where(where));
    }
  });
  const done = sent === topics.length;
  writes.push(
    db
      .update(tasks)
      .set({
        sent: sql`${tasks.sent} + ${sent}`,
        byMqtt: sql`${tasks.byMqtt} + ${sent}`,
        delivered: sql`${tasks.delivered} + ${delivered}`,
        pendingBatches: done ? sql`${tasks.pendingBatches} - 1` : tasks.pendingBatches,
        updatedAt: now2,
      })
      .where(eq(tasks.id, task.id)),
  );
  await db.batch(writes as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  if (done) {
    await finishIfComplete(db, task.id);
    return message.ack();
  }
  message.retry({ delaySeconds: backoffSeconds(message.attempts, 0, retryBase(env)) });
};

/** How long a claimed target stays claimed before another attempt may take it. */
const CLAIM_TTL_MS = 5 * 60_000;

const COUNTERS = { apns: "byApns", getui: "byGetui", fcm: "byFcm" } as const;

/**
 * Queue consumer for push delivery. Every message is acked or retried on its own; nothing is
 * thrown out of a batch. Messages that used up their retries arrive on the dead-letter queue,
 * where their remaining targets are recorded as failed.
 */
export const dispatch = async (batch: MessageBatch<unknown>, env: Env): Promise<void> => {
  const db = createDb(env.DB);
  const dead = batch.queue.endsWith("-dlq");
  for (const message of batch.messages) {
    const body = message.body as QueueMessage;
    try {
      if (dead) {
        if (body.kind === "batch") await closeBatch(db, body, "failed", "RETRIES_EXHAUSTED");
        else if (body.kind === "mqtt") await closeBatch(db, body, "failed", "HUB_UNAVAILABLE");
        else
          await db
            .update(tasks)
            .set({ status: "failed", updatedAt: Date.now() })
            .where(eq(tasks.id, body.taskId));
        message.ack();
      } else if (body?.kind === "task") {
        await runTask(env, db, body);
        message.ack();
      } else if (body?.kind === "batch") {
        await runBatch(env, db, body, message);
      } else if (body?.kind === "mqtt") {
        await runMqtt(env, db, body, message);
      } else {
        console.error(`queue ${batch.queue}: message ${message.id} has no known kind; dropped`);
        message.ack();
      }
    } catch (err) {
      console.error(
        `queue ${batch.queue}: message ${message.id}: ${err instanceof Error ? err.message : String(err)}`,
      );
      message.retry({ delaySeconds: backoffSeconds(message.attempts, 0, retryBase(env)) });
    }
  }
};
