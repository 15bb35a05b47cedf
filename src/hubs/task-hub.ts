import { DurableObject } from "cloudflare:workers";
import { countDurableObject } from "../lib/ops";
import {
  NO_SESSION_NOTE,
  type ReceiptState,
  SESSION_QUEUE_FULL,
  type StoredState,
  shownChannel,
  shownState,
  type TargetEvent,
  type TargetState,
  whyOf,
} from "../push/truth";
import { emitEvents, nowIso } from "../push/webhooks";
import { logHubError } from "./common";
import { Faults } from "./faults";
import { MetricsBatch } from "./metrics";
import { type Counts, TaskReads } from "./task-reads";
import {
  type Claim,
  type NewTarget,
  type Outcome,
  type Resume,
  type TargetRow,
  TaskStore,
} from "./task-store";

/** One TaskHub per task id: the task's per-target delivery records (docs/design/delivery-truth.md). */
export const taskHub = (env: Env, taskId: string) => env.TASK_HUB.get(env.TASK_HUB.idFromName(taskId));

export type TargetView = {
  msg_id: string;
  device_token?: string;
  user_id?: string;
  /** A group topic's target (groupcast): the group, not one user. */
  group_id?: string;
  channel: string | null;
  state: TargetState;
  reason: string | null;
  updated_at: string;
};

export type Trace = {
  msg_id: string;
  state: TargetState;
  why: string | null;
  events: (Omit<TargetEvent, "at"> & { at: string })[];
};

const iso = (ms: number) => new Date(ms).toISOString();

function viewOf(r: TargetRow): TargetView {
  const who =
    r.channel !== "mqtt"
      ? { device_token: r.target }
      : r.user_id !== null
        ? { user_id: r.user_id }
        : { group_id: r.target.split("/")[2] ?? r.target };
  return {
    msg_id: r.msg_id,
    ...who,
    channel: shownChannel(r.channel),
    state: shownState(r.state),
    reason: r.reason,
    updated_at: iso(r.updated_at),
  };
}

/**
 * A task's delivery records (per target: msg_id, state, reason, events), in the object's own
 * SQLite so that D1 holds only the task index. Written by the queue consumer (expansion,
 * batches, dead letters) and by receipts (PUBACKs, app receipts); read by status, targets and
 * trace. RPC methods log and rethrow: the caller retries or answers an error.
 */
export class TaskHub extends DurableObject<Env> {
  private readonly store: TaskStore;
  private readonly reads: TaskReads;
  private readonly faults: Faults;
  /** Delivery outcomes by channel, for the app's metrics. */
  private readonly metrics: MetricsBatch;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObject(this, ctx, env, "TaskHub");
    this.store = new TaskStore(ctx.storage.sql);
    this.reads = new TaskReads(ctx.storage.sql);
    this.faults = new Faults(ctx.storage.sql, env);
    this.metrics = new MetricsBatch(
      env,
      () => this.appName(),
      () => `TaskHub:${this.store.getMeta("task_id") ?? "?"}`,
    );
  }

  /** The task's app, read from D1 once and kept (the metrics are per app). */
  private async appName(): Promise<string | null> {
    const known = this.store.getMeta("app");
    if (known) return String(known);
    const taskId = this.store.getMeta("task_id");
    if (!taskId) return null;
    const row = await this.env.DB.prepare(
      "SELECT a.name AS name FROM tasks t JOIN apps a ON a.id = t.app_id WHERE t.id = ?",
    )
      .bind(String(taskId))
      .first<{ name: string }>();
    if (row) this.store.setMeta("app", row.name);
    return row?.name ?? null;
  }

  private async rpc<T>(entry: string, work: () => T | Promise<T>): Promise<T> {
    try {
      this.faults.check(entry);
      return await work();
    } catch (err) {
      logHubError(`TaskHub:${this.store.getMeta("task_id") ?? "?"}`, entry, err);
      throw err;
    }
  }

  /**
   * One expanded page: its targets (with their first events) and the keys of the queue messages
   * that will bring their outcomes. `cursor`: where the page started (none: the first page);
   * `next`: the page after it, null when the audience is exhausted. Idempotent (a page expanded
   * again adds nothing). Answers whether the task is complete already.
   */
  async expand(
    taskId: string,
    page: { rows: NewTarget[]; batches: string[]; cursor?: string; next: string | null; expiresAt?: number },
  ): Promise<boolean> {
    return this.rpc("expand", async () => {
      this.store.setMeta("task_id", taskId);
      this.store.progress(Date.now());
      // New targets already sent (MQTT publishes during expansion) or failed count as outcomes.
      for (const r of this.store.add(page.rows, Date.now()))
        if (r.state !== "pending") this.metrics.add("deliveries", 1, r.channel, r.state);
      this.store.openBatches(page.batches);
      // The page after this one: where a resume starts again if its message is lost. Only the
      // page that starts where the record stands moves it on, so a redelivered earlier page never
      // moves it back; `expanded` is never unset.
      if (page.next === null) this.store.setMeta("expanded", 1);
      else if ((page.cursor ?? null) === this.store.getMeta("cursor"))
        this.store.setMeta("cursor", page.next);
      if (page.expiresAt !== undefined && (await this.ctx.storage.getAlarm()) === null)
        await this.ctx.storage.setAlarm(page.expiresAt);
      return this.store.finishBatch(null);
    });
  }

  /** A queue message has every outcome it will get; answers whether the whole task has. */
  async finishBatch(key: string): Promise<boolean> {
    return this.rpc("finishBatch", () => {
      this.store.progress(Date.now());
      return this.store.finishBatch(key);
    });
  }

  async claim(channel: string, targets: string[], staleBefore: number): Promise<Claim> {
    return this.rpc("claim", () => {
      this.store.progress(Date.now());
      return this.store.claim(channel, targets, Date.now(), staleBefore);
    });
  }

  async record(channel: string, outcomes: Outcome[]): Promise<void> {
    return this.rpc("record", () => {
      this.store.progress(Date.now());
      this.store.record(channel, outcomes, Date.now());
      for (const o of outcomes)
        this.metrics.add("deliveries", 1, channel, o.state === "pending" ? "retry" : o.state);
    });
  }

  async closeTargets(channel: string, targets: string[], state: StoredState, reason: string, detail: string) {
    return this.rpc("closeTargets", () => {
      this.store.progress(Date.now());
      const closed = this.store.close(channel, targets, state, reason, detail, Date.now());
      this.metrics.add("deliveries", closed.length, channel, state);
      return closed;
    });
  }

  /**
   * The watchdog's resume of a task that made no progress since `staleBefore` (a queue message
   * of it was lost): what to queue again, a page at a time; null when the task moved meanwhile.
   */
  async resume(staleBefore: number, after: number, limit: number, size: number): Promise<Resume | null> {
    return this.rpc("resume", () => this.store.resume(staleBefore, after, limit, size, Date.now()));
  }

  /**
   * The watchdog's end of a cancelled task that made no progress since `staleBefore`: its open
   * targets are cancelled, `limit` at a time (`first`: the first call). Answers whether any are
   * left; null when the task moved meanwhile (a message of it is still alive). Nothing is sent.
   */
  async cancelOpen(staleBefore: number, first: boolean, limit: number): Promise<{ more: boolean } | null> {
    return this.rpc("cancelOpen", () => {
      const detail = "cancelled by the partner; its queue message was lost, so the watchdog ended it";
      const r = this.store.cancelOpen(staleBefore, first, limit, detail, Date.now());
      if (!r) return null;
      for (const [channel, n] of r.ended) this.metrics.add("deliveries", n, channel, "cancelled");
      return { more: r.more };
    });
  }

  /** Receipts for this task's msg_ids; answers how many were known. */
  async receipt(items: { msgId: string; state: ReceiptState }[], source: string): Promise<number> {
    return this.rpc("receipt", () => this.store.receipt(items, source, Date.now()));
  }

  /**
   * MQTT targets a user's session queue dropped at its bound; the ones it failed are
   * `target.failed` webhook events of the task's app. Answers how many it failed.
   */
  async dropped(msgIds: string[], detail: string): Promise<number> {
    return this.rpc("dropped", async () => {
      const failed = this.store.dropped(msgIds, detail, Date.now());
      if (failed.length) this.metrics.add("deliveries", failed.length, "mqtt", "failed");
      const taskId = this.store.getMeta("task_id");
      if (failed.length && taskId) {
        const app = await this.env.DB.prepare(
          "SELECT a.id AS id, a.callback_url AS callbackUrl FROM tasks t JOIN apps a ON a.id = t.app_id WHERE t.id = ?",
        )
          .bind(taskId)
          .first<{ id: number; callbackUrl: string | null }>();
        const at = nowIso();
        const events = failed.map((msgId) => ({
          type: "target.failed" as const,
          at,
          task_id: taskId,
          msg_id: msgId,
          reason: SESSION_QUEUE_FULL,
        }));
        if (app) await emitEvents(this.env, app, events);
      }
      return failed.length;
    });
  }

  async counts(): Promise<Counts> {
    return this.rpc("counts", () => this.reads.counts());
  }

  async summary(failureLimit: number) {
    return this.rpc("summary", () => ({
      counts: this.reads.counts(),
      failures: this.reads.failures(failureLimit),
    }));
  }

  /** A page of targets: `next_cursor` is null after the last page. */
  async targets(state: TargetState | null, cursor: number, limit: number) {
    return this.rpc("targets", () => {
      const rows = this.reads.list(state, cursor, limit + 1);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { targets: page.map(viewOf), next_cursor: rows.length > limit && last ? String(last.id) : null };
    });
  }

  async timeline(by: { deviceToken: string } | { userId: string }): Promise<Trace | null> {
    return this.rpc("timeline", () => {
      const row = this.reads.find(by);
      if (!row) return null;
      const events = this.reads.events(row.id);
      const sessionless = events.some((e) => e.state === "sent" && e.detail.includes(NO_SESSION_NOTE));
      return {
        msg_id: row.msg_id,
        state: shownState(row.state),
        why: whyOf({ ...row, removedAt: row.removed_at, sessionless }),
        events: events.map((e) => ({ ...e, at: iso(e.at) })),
      };
    });
  }

  /** Tests only (TEST_HOOKS): makes an RPC method throw its next `times` calls, after `skip` calls. */
  async injectFault(method: string, times: number, skip = 0): Promise<void> {
    this.faults.arm(method, times, skip);
  }

  // --- entry point ------------------------------------------------------------------------

  /** At the task's expiry: MQTT targets no device acknowledged are expired. */
  override async alarm(): Promise<void> {
    try {
      this.store.expireUnacknowledged(Date.now());
    } catch (err) {
      logHubError(`TaskHub:${this.store.getMeta("task_id") ?? "?"}`, "alarm", err);
      await this.ctx.storage.setAlarm(Date.now() + 30_000);
    }
  }
}
