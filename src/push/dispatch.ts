import { and, eq, inArray } from "drizzle-orm";
import { createDb, type Db } from "../db/client";
import { tasks } from "../db/schema";
import { taskHub } from "../hubs/task-hub";
import { armWatchdog } from "../hubs/task-watchdog";
import { MAX_QUEUE_DELAY_S } from "../services/push-tasks";
import { type BatchResult, closeBatch, runBatch, taskOf } from "./batch";
import { expandPage } from "./expand";
import { endTask, FINISHED, finishTask, NO_COUNTS } from "./finish";
import { runMqtt } from "./mqtt-retry";
import type { DroppedMessage, QueueMessage, ReceiptMessage, TaskPageMessage } from "./tasks";

/** Exponential backoff for a retried batch: base, 2 × base, 4 × base, … at most 10 minutes (base: PUSH_RETRY_BASE_S, 5 s). */
export const backoffSeconds = (attempts: number, retryAfterS = 0, baseS = 5) =>
  Math.max(retryAfterS, Math.min(600, baseS * 2 ** Math.max(0, attempts - 1)));

function retryBase(env: Env): number {
  const n = Number(env.PUSH_RETRY_BASE_S);
  return Number.isFinite(n) && n >= 0 ? n : 5;
}

const ENDED = ["cancelled", "expired", "done", "failed"];

/**
 * A task message: wait for its start time, expire it, or expand the next page of its audience.
 * A message of a task that has ended is done, except that a finished one (the retry of the
 * message that finished it, whose task.finished may not have been recorded) makes sure its
 * TaskHub has the event: a no-op when it has.
 */
async function runTask(env: Env, db: Db, m: TaskPageMessage): Promise<void> {
  const task = await taskOf(db, m.taskId);
  if (task && FINISHED.includes(task.status)) await taskHub(env, task.id).finished(task.id, null);
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
    await endTask(env, db, task.id, "expired", NO_COUNTS, ["scheduled", "queued", "sending"]);
    return;
  }
  await db
    .update(tasks)
    .set({ status: "sending", updatedAt: now })
    .where(and(eq(tasks.id, task.id), inArray(tasks.status, ["scheduled", "queued"])));
  const { next, complete } = await expandPage(env, db, task, m.cursor);
  if (next !== null)
    await env.PUSH_QUEUE.send({ kind: "task", taskId: task.id, cursor: next } satisfies TaskPageMessage);
  else if (complete) await finishTask(env, db, task.id);
}

/** Receipts a UserHub queued (its TaskHub did not answer at once). */
async function runReceipt(env: Env, m: ReceiptMessage): Promise<void> {
  await taskHub(env, m.taskId).receipt(m.receipts, m.source);
}

/** Pushes a session's queue dropped, queued by a UserHub (their TaskHub did not answer at once). */
async function runDropped(env: Env, m: DroppedMessage): Promise<void> {
  await taskHub(env, m.taskId).dropped(m.msgIds, m.detail);
}

/** A message that used up its retries: its remaining targets are recorded as failed. */
async function runDead(env: Env, db: Db, body: QueueMessage): Promise<void> {
  if (body.kind === "batch" || body.kind === "mqtt") {
    const task = await taskOf(db, body.taskId);
    if (!task) return;
    const reason = body.kind === "batch" ? "RETRIES_EXHAUSTED" : "HUB_UNAVAILABLE";
    const detail =
      body.kind === "batch"
        ? "gave up after the last retry"
        : "the MQTT broker kept failing; gave up after the last retry";
    if (await closeBatch(env, body, "failed", reason, detail)) await finishTask(env, db, body.taskId);
  } else if (body.kind === "task") {
    const counts = await taskHub(env, body.taskId).counts();
    await endTask(env, db, body.taskId, "failed", counts, ["scheduled", "queued", "sending"]);
  } else {
    console.error(`dead letter: ${body.kind} for task ${body.taskId} dropped`);
  }
}

/**
 * Queue consumer for push delivery. Every message is acked or retried on its own; nothing is
 * thrown out of a batch. Messages that used up their retries arrive on the dead-letter queue,
 * where their remaining targets are recorded as failed.
 */
export async function dispatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = createDb(env.DB);
  const dead = batch.queue.endsWith("-dlq");
  // Technician pushes are created outside the psp route: the consumer arms the watchdog too.
  await armWatchdog(env).catch((err) =>
    console.error(`queue: arming the task watchdog failed: ${String(err)}`),
  );
  // The batch's messages run side by side (wrangler.toml: up to 4), each acked or retried on
  // its own; the dead-letter queue's (up to 50) one after another.
  if (dead) for (const message of batch.messages) await handle(message);
  else await Promise.all(batch.messages.map((message) => handle(message)));

  async function handle(message: Message<unknown>): Promise<void> {
    const body = message.body as QueueMessage;
    try {
      if (dead) {
        await runDead(env, db, body);
        message.ack();
        return;
      }
      if (body?.kind === "task") {
        await runTask(env, db, body);
        message.ack();
        return;
      }
      if (body?.kind === "receipt") {
        await runReceipt(env, body);
        message.ack();
        return;
      }
      if (body?.kind === "dropped") {
        await runDropped(env, body);
        message.ack();
        return;
      }
      if (body?.kind !== "batch" && body?.kind !== "mqtt") {
        console.error(`queue ${batch.queue}: message ${message.id} has no known kind; dropped`);
        message.ack();
        return;
      }
      const task = await taskOf(db, body.taskId);
      if (!task) {
        message.ack();
        return;
      }
      const result: BatchResult =
        body.kind === "batch" ? await runBatch(env, db, task, body) : await runMqtt(env, db, task, body);
      if (!result.done && result.requeue) {
        // Past its deadline, or held back by its app's breaker; not failed: queued again as a
        // fresh message (no retry used up).
        await env.PUSH_QUEUE.send(result.requeue, { delaySeconds: result.retryAfterS });
        message.ack();
        return;
      }
      if (!result.done) {
        message.retry({ delaySeconds: backoffSeconds(message.attempts, result.retryAfterS, retryBase(env)) });
        return;
      }
      if (result.complete) await finishTask(env, db, task.id);
      message.ack();
    } catch (err) {
      console.error(
        `queue ${batch.queue}: message ${message.id}: ${err instanceof Error ? err.message : String(err)}`,
      );
      message.retry({ delaySeconds: backoffSeconds(message.attempts, 0, retryBase(env)) });
    }
  }
}
