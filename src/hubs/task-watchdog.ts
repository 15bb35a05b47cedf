import { DurableObject } from "cloudflare:workers";
import { createDb } from "../db/client";
import { countDurableObject } from "../lib/ops";
import { endCancelledTasks, resumeStalledTasks } from "../push/resume";
import { requeueStuckTasks } from "../services/push-tasks";
import { logHubError } from "./common";

/** How often the watchdog looks for stuck tasks while any task is open. */
export const SWEEP_MS = 60_000;

/**
 * One per deployment: while tasks are open (queued or sending), an alarm every minute re-queues
 * the tasks whose first queue message never ran (status still `queued` two minutes on), so a
 * push whose message was lost (the local queue keeps messages in memory across a restart of
 * `wrangler dev`; an eviction between the D1 write and the send) still goes out. Re-queueing is
 * safe: expanding a task records its targets idempotently in its TaskHub.
 *
 * It also resumes tasks lost mid-way: `sending`, with no progress in their TaskHub for
 * STALLED_MS (a page, batch or MQTT retry message was lost). Their targets not yet handed over
 * are queued again from the TaskHub's records; those sent or received are not (src/push/resume.ts).
 * And it ends cancelled tasks that lost a queue message: their targets still open STALLED_MS after
 * the cancel are cancelled, never sent.
 */
export class TaskWatchdog extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObject(this, ctx, env, "TaskWatchdog");
  }

  /** Makes sure a sweep is due within SWEEP_MS. */
  async arm(): Promise<void> {
    try {
      if ((await this.ctx.storage.getAlarm()) === null)
        await this.ctx.storage.setAlarm(Date.now() + SWEEP_MS);
    } catch (err) {
      logHubError("TaskWatchdog", "arm", err);
      throw err;
    }
  }

  override async alarm(): Promise<void> {
    try {
      const db = createDb(this.env.DB);
      const now = Date.now();
      const { open } = await requeueStuckTasks(db, this.env.PUSH_QUEUE, now);
      await resumeStalledTasks(this.env, db, now);
      // Cancelled tasks are looked at once: those cancelled since the last sweep's window.
      const since = (await this.ctx.storage.get<number>("swept_at")) ?? now - SWEEP_MS;
      const cancelled = await endCancelledTasks(this.env, db, since, now);
      await this.ctx.storage.put("swept_at", now);
      if (open > 0 || cancelled > 0) await this.ctx.storage.setAlarm(Date.now() + SWEEP_MS);
    } catch (err) {
      logHubError("TaskWatchdog", "alarm", err);
      await this.ctx.storage.setAlarm(Date.now() + SWEEP_MS);
    }
  }
}

let armedUntil = 0;
/** Arms the watchdog, at most once per half minute per isolate (it is off every hot path). */
export function armWatchdog(env: Env): Promise<void> {
  const now = Date.now();
  if (now < armedUntil) return Promise.resolve();
  armedUntil = now + SWEEP_MS / 2;
  return env.TASK_WATCHDOG.get(env.TASK_WATCHDOG.idFromName("watchdog")).arm();
}
