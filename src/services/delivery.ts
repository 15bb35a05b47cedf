import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client";
import { type AppRow, tasks } from "../db/schema";
import { pspFail } from "../errors";
import { taskHub } from "../hubs/task-hub";
import { taskIdOf } from "../push/msg-id";
import type { ReceiptState, TargetState } from "../push/truth";
import type { TaskRow } from "./push-tasks";

/** CONTRACT §2 "Delivery truth": a task's targets, one page at a time. */
export async function taskTargets(
  env: Env,
  task: TaskRow,
  q: { state?: TargetState; cursor?: string; limit: number },
) {
  const cursor = q.cursor === undefined ? 0 : Number(q.cursor);
  return taskHub(env, task.id).targets(q.state ?? null, cursor, q.limit);
}

/** One target's timeline: by device token, or by user id (its MQTT user topic, else a device of it). */
export async function traceTarget(env: Env, task: TaskRow, by: { deviceToken: string } | { userId: string }) {
  const trace = await taskHub(env, task.id).timeline(by);
  if (!trace) {
    const what = "deviceToken" in by ? `device ${by.deviceToken}` : `user ${by.userId}`;
    throw pspFail(404, 3002, `task ${task.id} has no target for ${what}`);
  }
  return { task_id: task.id, ...trace };
}

export type Receipt = { msg_id: string; state: ReceiptState };

/**
 * Receipts from an app: grouped by the task their msg_id names, applied by that task's TaskHub
 * when the task is the app's own. Answers how many msg_ids were known; unknown ones (another
 * app's, a malformed or finished-and-gone id) are ignored and not counted.
 */
export async function applyReceipts(env: Env, db: Db, app: AppRow, receipts: Receipt[], source: string) {
  const byTask = new Map<string, { msgId: string; state: ReceiptState }[]>();
  for (const r of receipts) {
    const taskId = taskIdOf(r.msg_id);
    if (!taskId) continue;
    const list = byTask.get(taskId) ?? [];
    list.push({ msgId: r.msg_id, state: r.state });
    byTask.set(taskId, list);
  }
  if (byTask.size === 0) return 0;
  const mine = await db
    .select({ id: tasks.id })
    .from(tasks)
    .where(and(eq(tasks.appId, app.id), inArray(tasks.id, [...byTask.keys()])));
  const counts = await Promise.all(
    mine.map((t) => taskHub(env, t.id).receipt(byTask.get(t.id) ?? [], source)),
  );
  return counts.reduce((a, b) => a + b, 0);
}
