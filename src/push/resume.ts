import { and, count, eq, gte, inArray, lt } from "drizzle-orm";
import type { Db } from "../db/client";
import { devices, tasks } from "../db/schema";
import { taskHub } from "../hubs/task-hub";
import type { Resume } from "../hubs/task-store";
import { chunks } from "../lib/chunks";
import type { DeviceTarget } from "./audience";
import { BATCH_SIZE } from "./expand";
import { finishTask } from "./finish";
import type { BatchMessage, MqttMessage, TaskPageMessage } from "./tasks";

/**
 * A task still `sending` whose TaskHub has seen no progress (a page expanded, a claim, an answer,
 * a batch finished) for this long has lost a queue message. Longer than any wait the pipeline
 * puts on a message that is alive: retries back off to at most 10 minutes, the app's breaker
 * holds a batch at most 6 T at a time, a claim lapses after 3 T.
 */
export const STALLED_MS = 15 * 60_000;

/** Open targets read from a TaskHub per call. */
const RESUME_PAGE = 1000;

/**
 * The messages that send a resume page's targets. A device's platform is read again from D1 (the
 * TaskHub does not keep it); one unregistered since is labelled by its provider's usual platform.
 */
async function messagesOf(db: Db, task: { id: string; appId: number }, batches: Resume["batches"]) {
  const tokens = batches.filter((b) => b.channel !== "mqtt").flatMap((b) => b.targets.map((t) => t.target));
  const platforms = new Map<string, DeviceTarget["platform"]>();
  for (const part of chunks(tokens)) {
    const rows = await db
      .select({ token: devices.deviceToken, platform: devices.platform })
      .from(devices)
      .where(and(eq(devices.appId, task.appId), inArray(devices.deviceToken, part)));
    for (const r of rows) platforms.set(r.token, r.platform as DeviceTarget["platform"]);
  }
  return batches.map((b): { body: BatchMessage | MqttMessage } => {
    if (b.channel === "mqtt")
      return { body: { kind: "mqtt", taskId: task.id, topics: b.targets.map((t) => t.target), key: b.key } };
    const provider = b.channel as DeviceTarget["provider"];
    const targets = b.targets.map((t) => ({
      token: t.target,
      userId: t.userId,
      provider,
      platform: platforms.get(t.target) ?? (provider === "apns" ? "ios" : "android"),
    }));
    return { body: { kind: "batch", taskId: task.id, provider, targets, key: b.key } };
  });
}

/** Queues again what a stalled task still needs; answers false when it moved meanwhile. */
async function resumeTask(env: Env, db: Db, task: { id: string; appId: number }, staleBefore: number) {
  const hub = taskHub(env, task.id);
  for (let after = 0; ; ) {
    const r = await hub.resume(staleBefore, after, RESUME_PAGE, BATCH_SIZE);
    if (!r) return false;
    if (r.page)
      await env.PUSH_QUEUE.send({ kind: "task", taskId: task.id, ...r.page } satisfies TaskPageMessage);
    const messages = await messagesOf(db, task, r.batches);
    for (let i = 0; i < messages.length; i += 100) await env.PUSH_QUEUE.sendBatch(messages.slice(i, i + 100));
    // Every target had its outcome; only the message that would have said so was lost.
    if (r.complete) await finishTask(env, db, task.id);
    if (r.next === null) return true;
    after = r.next;
  }
}

/**
 * The watchdog's second sweep: tasks `sending` unchanged in D1 for STALLED_MS are stamped (so
 * each is looked at once per STALLED_MS) and asked whether their TaskHub moved in that time;
 * those that did not are resumed (TaskStore.resume). A resume that fails is tried again on the
 * next look. Answers how many were resumed.
 */
export async function resumeStalledTasks(env: Env, db: Db, now: number): Promise<number> {
  const stale = await db
    .update(tasks)
    .set({ updatedAt: now })
    .where(and(eq(tasks.status, "sending"), lt(tasks.updatedAt, now - STALLED_MS)))
    .returning({ id: tasks.id, appId: tasks.appId });
  let resumed = 0;
  for (const task of stale) {
    try {
      if (await resumeTask(env, db, task, now - STALLED_MS)) resumed += 1;
    } catch (err) {
      console.error(
        `watchdog: resuming task ${task.id} failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
  if (resumed) console.warn(`watchdog: resumed ${resumed} stalled task(s)`);
  return resumed;
}

/** Ends a stalled cancelled task's open targets, a page at a time; answers false when it moved meanwhile. */
async function endCancelled(env: Env, taskId: string, staleBefore: number) {
  const hub = taskHub(env, taskId);
  for (let first = true; ; first = false) {
    const r = await hub.cancelOpen(staleBefore, first, RESUME_PAGE);
    if (!r) return false;
    if (!r.more) return true;
  }
}

/**
 * The watchdog's third sweep: tasks cancelled STALLED_MS ago (between its last sweep and this
 * one, each looked at once), whose TaskHub made no progress since, have lost a queue message
 * that would have ended their targets: the targets still open are cancelled (TaskStore.cancelOpen);
 * nothing is sent. One that moved meanwhile, or whose end failed, is stamped and looked at again
 * STALLED_MS on. Answers how many cancelled tasks are still to be looked at (the watchdog sweeps
 * on while any are).
 */
export async function endCancelledTasks(env: Env, db: Db, since: number, now: number): Promise<number> {
  const due = await db
    .select({ id: tasks.id })
    .from(tasks)
    .where(
      and(
        eq(tasks.status, "cancelled"),
        gte(tasks.updatedAt, since - STALLED_MS),
        lt(tasks.updatedAt, now - STALLED_MS),
      ),
    );
  for (const task of due) {
    const ended = await endCancelled(env, task.id, now - STALLED_MS).catch((err) => {
      console.error(
        `watchdog: ending cancelled task ${task.id} failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      return false;
    });
    if (!ended) await db.update(tasks).set({ updatedAt: now }).where(eq(tasks.id, task.id));
  }
  const [waiting] = await db
    .select({ n: count() })
    .from(tasks)
    .where(and(eq(tasks.status, "cancelled"), gte(tasks.updatedAt, now - STALLED_MS)));
  return waiting?.n ?? 0;
}
