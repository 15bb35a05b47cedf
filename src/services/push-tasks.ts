import { and, count, eq, inArray, isNull, lt, lte, or, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { type AppRow, pushRate, type tasks as TasksTable, tasks } from "../db/schema";
import { AppError, pspFail } from "../errors";
import { taskHub } from "../hubs/task-hub";
import { randomHex } from "../lib/crypto";
import { platformsOf } from "../push/audience";
import { type PushRequest, payloadSize } from "../push/request";
import { requeueCutoff, type TaskPageMessage } from "../push/tasks";

export type TaskRow = typeof TasksTable.$inferSelect;

/** CONTRACT §2 rate limit: pushes per app per second, counted in D1 (one upsert per push). */
const rateUpsert = (db: Db, app: AppRow, second: number) =>
  db
    .insert(pushRate)
    .values({ appId: app.id, second, count: 1 })
    .onConflictDoUpdate({
      target: [pushRate.appId, pushRate.second],
      set: { count: sql`${pushRate.count} + 1` },
    })
    .returning({ count: pushRate.count });

const overRate = (app: AppRow) =>
  new AppError(429, 2050, `more than ${app.pushRateLimit} pushes per second`, {
    headers: { "Retry-After": "1" },
  });

/** CONTRACT §2 payload limits, per target platform: 413 / 2022. */
export const checkPayloadLimits = async (db: Db, app: AppRow, req: PushRequest): Promise<void> => {
  const size = payloadSize(req.payload);
  // Within both limits: no need to know the devices' platforms (no D1 read).
  if (size <= Math.min(app.iosPayloadLimit, app.androidPayloadLimit)) return;
  const platforms =
    req.audience.type === "unicast" || req.audience.type === "listcast"
      ? [...(await platformsOf(db, app.id, req.audience.tokens))]
      : ["ios", "android"];
  for (const p of platforms) {
    const limit = p === "ios" ? app.iosPayloadLimit : app.androidPayloadLimit;
    if (size > limit)
      throw pspFail(413, 2022, `payload is ${size} bytes; the ${p} limit of this app is ${limit}`);
  }
};

/**
 * Creates the task and queues it; answers the task id. With `out_biz_no`, the same value
 * answers the first task's id (the call is idempotent).
 */
export const createTask = async (
  db: Db,
  queue: Queue,
  app: AppRow,
  req: PushRequest,
  now: number,
  opts: { rateLimited?: boolean } = {},
): Promise<string> => {
  if (req.outBizNo) {
    const existing = await db.query.tasks.findFirst({
      where: and(eq(tasks.appId, app.id), eq(tasks.outBizNo, req.outBizNo)),
    });
    if (existing) return existing.id;
  }
  const id = `${req.kind === "config" ? "c" : "u"}${now.toString(36)}${randomHex(8)}`;
  const scheduled = req.startAt !== undefined && req.startAt > now;
  const insert = db
    .insert(tasks)
    .values({
      id,
      appId: app.id,
      kind: req.kind,
      type: req.audience.type,
      status: scheduled ? "scheduled" : "queued",
      request: JSON.stringify(req),
      productionMode: req.productionMode,
      startAt: req.startAt ?? null,
      expireAt: req.expireAt ?? null,
      outBizNo: req.outBizNo ?? null,
    })
    .onConflictDoNothing()
    .returning({ id: tasks.id });
  let inserted: { id: string }[];
  if (opts.rateLimited) {
    // The rate-limit count and the task in one D1 round trip (one transaction); over the
    // limit, the task row is taken back before anyone learns its id.
    const second = Math.floor(now / 1000);
    const [rate, rows] = await db.batch([rateUpsert(db, app, second), insert]);
    if (second % 60 === 0) {
      await db
        .delete(pushRate)
        .where(and(eq(pushRate.appId, app.id), sql`${pushRate.second} < ${second - 60}`));
    }
    if ((rate[0]?.count ?? 0) > app.pushRateLimit) {
      if (rows.length) await db.delete(tasks).where(eq(tasks.id, id));
      throw overRate(app);
    }
    inserted = rows;
  } else {
    inserted = await insert;
  }
  if (inserted.length === 0 && req.outBizNo) {
    // Two calls with the same out_biz_no raced: the first one's task answers both.
    const first = await db.query.tasks.findFirst({
      where: and(eq(tasks.appId, app.id), eq(tasks.outBizNo, req.outBizNo)),
    });
    if (first) return first.id;
  }
  const delaySeconds = scheduled
    ? Math.min(Math.ceil(((req.startAt ?? now) - now) / 1000), MAX_QUEUE_DELAY_S)
    : 0;
  const message: TaskPageMessage = { kind: "task", taskId: id };
  await queue.send(message, { delaySeconds });
  return id;
};

/** When the oldest message still waiting in the queue was sent (null: none waits; undefined: unknown). */
async function oldestWaiting(queue: Queue): Promise<number | null | undefined> {
  try {
    const m = await queue.metrics();
    if (m.backlogCount === 0) return null;
    const at =
      m.oldestMessageTimestamp === undefined ? Number.NaN : new Date(m.oldestMessageTimestamp).getTime();
    return Number.isFinite(at) && at > 0 ? at : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Re-queues the tasks whose first queue message never ran (status `queued`, due, unchanged for
 * STUCK_MS, and older than every message still waiting in the queue: src/push/tasks.ts
 * requeueCutoff), stamping them so the next sweep waits again; answers how many, and how many tasks
 * are still open (queued or sending).
 */
export async function requeueStuckTasks(db: Db, queue: Queue, now: number) {
  const stuck = await db
    .update(tasks)
    .set({ updatedAt: now })
    .where(
      and(
        eq(tasks.status, "queued"),
        lt(tasks.updatedAt, requeueCutoff(now, await oldestWaiting(queue))),
        or(isNull(tasks.startAt), lte(tasks.startAt, now)),
      ),
    )
    .returning({ id: tasks.id });
  for (let i = 0; i < stuck.length; i += 100) {
    const part = stuck.slice(i, i + 100);
    await queue.sendBatch(
      part.map((t) => ({ body: { kind: "task", taskId: t.id } satisfies TaskPageMessage })),
    );
  }
  if (stuck.length) console.warn(`watchdog: re-queued ${stuck.length} stuck task(s)`);
  const [open] = await db
    .select({ n: count() })
    .from(tasks)
    .where(inArray(tasks.status, ["queued", "sending"]));
  return { requeued: stuck.length, open: open?.n ?? 0 };
}

/** Cloudflare Queues delay messages by at most 12 hours; longer waits re-queue. */
export const MAX_QUEUE_DELAY_S = 12 * 3600;

export const findTask = async (db: Db, app: AppRow, taskId: string): Promise<TaskRow> => {
  const task = await db.query.tasks.findFirst({ where: and(eq(tasks.appId, app.id), eq(tasks.id, taskId)) });
  if (!task) throw pspFail(404, 1014, "unknown task_id");
  return task;
};

/**
 * CONTRACT §2 task status, every number counted from the task's per-target records (its
 * TaskHub): `sent` counts targets handed over or beyond (received, opened, dismissed),
 * `received` those received or beyond, `opened` the opened ones; the same per channel.
 */
export const taskStatus = async (env: Env, task: TaskRow) => {
  const { counts: c, failures } = await taskHub(env, task.id).summary(100);
  const per = (k: "sent" | "received" | "opened") => ({
    mqtt: c.byChannel.mqtt[k],
    apns: c.byChannel.apns[k],
    getui: c.byChannel.getui[k],
    fcm: c.byChannel.fcm[k],
  });
  return {
    task_id: task.id,
    status: task.status,
    total: c.total,
    sent: c.sent,
    delivered: c.delivered,
    failed: c.failed,
    received: c.received,
    opened: c.opened,
    by_channel: per("sent"),
    received_by_channel: per("received"),
    opened_by_channel: per("opened"),
    failures,
  };
};

const CANCELLABLE = ["scheduled", "queued", "sending"];

/** Cancels what is not yet sent; 1028 once the task has ended. */
export const cancelTask = async (db: Db, task: TaskRow): Promise<void> => {
  const [row] = await db
    .update(tasks)
    .set({ status: "cancelled", updatedAt: Date.now() })
    .where(and(eq(tasks.id, task.id), inArray(tasks.status, CANCELLABLE)))
    .returning({ id: tasks.id });
  if (!row) throw pspFail(400, 1028, `the task is ${task.status} and can no longer be cancelled`);
};
