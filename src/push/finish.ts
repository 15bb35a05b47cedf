import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client";
import { tasks } from "../db/schema";
import { taskHub } from "../hubs/task-hub";

// The end of a running task (the queue consumer's and the watchdog's).

/** A finished task's status: failed when nothing went out and something failed, expired when everything expired. */
function endStatus(c: { total: number; sent: number; failed: number; expired: number }) {
  if (c.sent === 0 && c.failed > 0) return "failed";
  if (c.sent === 0 && c.total > 0 && c.expired === c.total) return "expired";
  return "done";
}

/**
 * Every target has its outcome: the task is done, or failed when nothing went out. The counts
 * come from the task's per-target records (its TaskHub); D1 keeps only the task's status.
 */
export async function finishTask(env: Env, db: Db, taskId: string): Promise<void> {
  const counts = await taskHub(env, taskId).counts();
  await endTask(env, db, taskId, endStatus(counts), counts);
}

export const NO_COUNTS = { total: 0, sent: 0, delivered: 0, failed: 0, received: 0, opened: 0, expired: 0 };

/** The statuses endTask sets: a task in one of them has (or is owed) its task.finished event. */
export const FINISHED = ["done", "failed", "expired"];

/**
 * Sets a running task's final status once; the app's webhook hears of it (task.finished, from
 * the task's TaskHub, which sends it once per task). When the status was already final, the
 * event is asked for again: the run that set it may have died (or failed to reach the TaskHub)
 * before the event was recorded, and this retry, finding nothing left to update, is then the
 * only one that can still send it.
 */
export async function endTask(
  env: Env,
  db: Db,
  taskId: string,
  status: "done" | "failed" | "expired",
  counts: typeof NO_COUNTS,
  from = ["queued", "sending"],
): Promise<void> {
  const [ended] = await db
    .update(tasks)
    .set({ status, updatedAt: Date.now() })
    .where(and(eq(tasks.id, taskId), inArray(tasks.status, from)))
    .returning({ appId: tasks.appId });
  if (!ended && !(await finishedAlready(db, taskId))) return;
  const { total, sent, delivered, failed, received, opened } = counts;
  await taskHub(env, taskId).finished(taskId, { total, sent, delivered, failed, received, opened });
}

/** Whether the task's status is final already (set by an earlier endTask). */
export async function finishedAlready(db: Db, taskId: string): Promise<boolean> {
  const row = await db.query.tasks.findFirst({ where: eq(tasks.id, taskId), columns: { status: true } });
  return row !== undefined && FINISHED.includes(row.status);
}
