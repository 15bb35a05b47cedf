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
import { backoff, emitEvents, MAX_EVENTS, type WebhookEvent } from "../push/webhooks";
import { logHubError } from "./common";
import { Faults } from "./faults";
import { MetricsBatch } from "./metrics";
import { TaskOutbox } from "./task-outbox";
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

type WebhookApp = { id: number; callbackUrl: string | null };

/**
 * How long a TaskHub trusts the callback_url it read: one D1 read per task per 30 s rather than
 * per round with a failure. A callback_url set or removed applies to a running task within that.
 */
const WEBHOOK_APP_TTL_MS = 30_000;

/** The numbers of a `task.finished` event (the status shape's). */
export type FinishedCounts = Pick<Counts, "total" | "sent" | "delivered" | "failed" | "received" | "opened">;

/** A target's `target.failed` event; MQTT targets have no device_token. */
const targetFailed = (
  at: string,
  taskId: string,
  channel: string,
  target: { target: string; msgId: string },
  reason: string,
): WebhookEvent => ({
  type: "target.failed",
  at,
  task_id: taskId,
  msg_id: target.msgId,
  ...(channel === "mqtt" ? {} : { device_token: target.target }),
  reason,
});

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
 *
 * The task's webhook events (target.failed, device.dead, task.finished) are written to its
 * outbox in the same step as the change they report and sent to WEBHOOK_QUEUE before the RPC
 * answers; a send that fails is tried again from the alarm (src/hubs/task-outbox.ts). The alarm
 * also serves the task's expiry.
 */
export class TaskHub extends DurableObject<Env> {
  private readonly store: TaskStore;
  private readonly reads: TaskReads;
  private readonly faults: Faults;
  private readonly outbox: TaskOutbox;
  /** The outbox's sends, one at a time (an RPC that interleaves waits for the one running). */
  private flushing: Promise<void> = Promise.resolve();
  /** The task's app and callback_url as last read from D1, and when (kept WEBHOOK_APP_TTL_MS). */
  private webhookTarget: { app: WebhookApp | null; at: number } | null = null;
  /** Delivery outcomes by channel, for the app's metrics. */
  private readonly metrics: MetricsBatch;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObject(this, ctx, env, "TaskHub");
    this.store = new TaskStore(ctx.storage.sql);
    this.reads = new TaskReads(ctx.storage.sql);
    this.faults = new Faults(ctx.storage.sql, env);
    this.outbox = new TaskOutbox(ctx.storage.sql);
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

  private name(): string {
    return `TaskHub:${this.store.getMeta("task_id") ?? "?"}`;
  }

  private async rpc<T>(entry: string, work: () => T | Promise<T>): Promise<T> {
    try {
      this.faults.check(entry);
      return await work();
    } catch (err) {
      logHubError(this.name(), entry, err);
      throw err;
    }
  }

  /**
   * An RPC whose work may write webhook events to the outbox: whatever the outbox holds is sent
   * before it answers, even when the work failed after writing some (the flush never throws).
   */
  private async emitting<T>(entry: string, work: () => T | Promise<T>): Promise<T> {
    try {
      return await this.rpc(entry, work);
    } finally {
      if (this.outbox.waiting()) await this.flush();
    }
  }

  /** The task's id for its events (set by the first page, or by `finished`). */
  private taskId(): string | null {
    return this.store.getMeta("task_id");
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
    return this.emitting("expand", async () => {
      const now = Date.now();
      this.store.setMeta("task_id", taskId);
      this.store.progress(now);
      // New targets already sent (MQTT publishes during expansion) or failed count as outcomes;
      // the failed ones (UNKNOWN_DEVICE) are target.failed events, once: a page expanded again
      // adds no target.
      const events: WebhookEvent[] = [];
      for (const r of this.store.add(page.rows, now)) {
        if (r.state !== "pending") this.metrics.add("deliveries", 1, r.channel, r.state);
        if (r.state === "failed") events.push(targetFailed(iso(now), taskId, r.channel, r, r.reason ?? ""));
      }
      this.outbox.add(events);
      this.store.openBatches(page.batches);
      // The page after this one: where a resume starts again if its message is lost. Only the
      // page that starts where the record stands moves it on, so a redelivered earlier page never
      // moves it back; `expanded` is never unset.
      if (page.next === null) this.store.setMeta("expanded", 1);
      else if ((page.cursor ?? null) === this.store.getMeta("cursor"))
        this.store.setMeta("cursor", page.next);
      if (page.expiresAt !== undefined && this.store.getMeta("expire_at") === null) {
        this.store.setMeta("expire_at", page.expiresAt);
        await this.scheduleAlarm();
      }
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

  /**
   * A round's answers. A failure of a target still open is a target.failed event, a device the
   * answer unregistered a device.dead event (the same answer recorded again: none).
   */
  async record(channel: string, outcomes: Outcome[]): Promise<void> {
    return this.emitting("record", () => {
      const now = Date.now();
      this.store.progress(now);
      const failures = this.store.record(channel, outcomes, now);
      for (const o of outcomes)
        this.metrics.add("deliveries", 1, channel, o.state === "pending" ? "retry" : o.state);
      const taskId = this.taskId();
      if (taskId === null) return;
      const events: WebhookEvent[] = [];
      for (const f of failures) {
        const failed = targetFailed(iso(now), taskId, channel, f, f.reason);
        if (f.failed) events.push(failed);
        if (f.dead) events.push({ ...failed, type: "device.dead" });
      }
      this.outbox.add(events);
    });
  }

  /** Ends open targets; the ones it failed are target.failed events. Answers the ones it ended. */
  async closeTargets(channel: string, targets: string[], state: StoredState, reason: string, detail: string) {
    return this.emitting("closeTargets", () => {
      const now = Date.now();
      this.store.progress(now);
      const closed = this.store.close(channel, targets, state, reason, detail, now);
      this.metrics.add("deliveries", closed.length, channel, state);
      const taskId = this.taskId();
      if (state === "failed" && taskId !== null)
        this.outbox.add(closed.map((c) => targetFailed(iso(now), taskId, channel, c, reason)));
      return closed;
    });
  }

  /**
   * The task ended (its D1 status is done, failed or expired): its task.finished event, once
   * per task whoever asks (a retry, or another run ending it too, adds none). `counts`: the
   * numbers to report, null for the hub's own.
   */
  async finished(taskId: string, counts: FinishedCounts | null): Promise<void> {
    return this.emitting("finished", () => {
      if (this.taskId() === null) this.store.setMeta("task_id", taskId);
      if (this.store.getMeta("finished") !== null) return;
      const { total, sent, delivered, failed, received, opened } = counts ?? this.reads.counts();
      this.store.setMeta("finished", 1);
      this.outbox.add([
        {
          type: "task.finished",
          at: iso(Date.now()),
          task_id: taskId,
          counts: { total, sent, delivered, failed, received, opened },
        },
      ]);
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
    return this.emitting("dropped", () => {
      const now = Date.now();
      const failed = this.store.dropped(msgIds, detail, now);
      if (failed.length) this.metrics.add("deliveries", failed.length, "mqtt", "failed");
      const taskId = this.taskId();
      if (taskId !== null)
        this.outbox.add(
          failed.map((msgId) =>
            targetFailed(iso(now), taskId, "mqtt", { target: "", msgId }, SESSION_QUEUE_FULL),
          ),
        );
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

  /**
   * At the task's expiry: MQTT targets no device acknowledged are expired. At an outbox retry:
   * the events still waiting are sent. Then the alarm is set for whichever comes next.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    try {
      const expireAt = this.store.getMeta("expire_at");
      // An alarm set before the outbox shared it (no `alarm` mark) can only be the expiry.
      const legacy = this.store.getMeta("alarm") === null;
      if (
        this.store.getMeta("expired") === null &&
        (legacy || (expireAt !== null && Number(expireAt) <= now))
      ) {
        this.store.expireUnacknowledged(now);
        this.store.setMeta("expired", 1);
      }
    } catch (err) {
      logHubError(this.name(), "alarm", err);
      await this.ctx.storage.setAlarm(now + 30_000);
      return;
    }
    if (this.outbox.waiting()) await this.flush();
    await this.scheduleAlarm();
  }

  // --- the outbox ---------------------------------------------------------------------------

  /** Sends what the outbox holds, after any send already running; never throws. */
  private flush(): Promise<void> {
    const run = this.flushing.then(() => this.send());
    this.flushing = run;
    return run;
  }

  /**
   * The outbox to WEBHOOK_QUEUE, MAX_EVENTS (one queue message) at a time, each deleted once
   * the queue took it. Events of an app without a callback_url (or of a task gone from D1) are
   * dropped, as the consumer would. A failure (the queue, D1) is logged and tried again from the
   * alarm with backoff (PUSH_RETRY_BASE_S doubling, at least 1 s, at most an hour).
   */
  private async send(): Promise<void> {
    try {
      for (let page = this.outbox.oldest(MAX_EVENTS); page; page = this.outbox.oldest(MAX_EVENTS)) {
        const app = await this.webhookApp();
        if (app?.callbackUrl) {
          this.faults.check("webhookSend");
          await emitEvents(this.env, app, page.events);
        }
        this.outbox.ack(page.last);
      }
      if (this.store.getMeta("webhook_attempts") !== null) {
        this.store.clearMeta("webhook_attempts");
        this.store.clearMeta("webhook_retry_at");
      }
    } catch (err) {
      logHubError(this.name(), "webhooks", err);
      try {
        const attempts = Number(this.store.getMeta("webhook_attempts") ?? 0) + 1;
        this.store.setMeta("webhook_attempts", attempts);
        this.store.setMeta("webhook_retry_at", Date.now() + Math.max(1, backoff(this.env, attempts)) * 1000);
        await this.scheduleAlarm();
      } catch (e) {
        logHubError(this.name(), "webhooks", e);
      }
    }
  }

  /** The task's app and its callback_url (null: the task is gone), read from D1 when there is something to send. */
  private async webhookApp(): Promise<WebhookApp | null> {
    const taskId = this.taskId();
    if (taskId === null) return null;
    const now = Date.now();
    if (this.webhookTarget && now - this.webhookTarget.at < WEBHOOK_APP_TTL_MS) return this.webhookTarget.app;
    const app = await this.env.DB.prepare(
      "SELECT a.id AS id, a.callback_url AS callbackUrl FROM tasks t JOIN apps a ON a.id = t.app_id WHERE t.id = ?",
    )
      .bind(taskId)
      .first<WebhookApp>();
    this.webhookTarget = { app, at: now };
    return app;
  }

  /** The alarm serves the expiry and the outbox's retry: set for the earlier one still due. */
  private async scheduleAlarm(): Promise<void> {
    const due = [
      this.store.getMeta("expired") === null ? this.store.getMeta("expire_at") : null,
      this.store.getMeta("webhook_retry_at"),
    ]
      .filter((v): v is string => v !== null)
      .map(Number);
    if (due.length === 0) return;
    const next = Math.min(...due);
    this.store.setMeta("alarm", 1);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next) await this.ctx.storage.setAlarm(next);
  }
}
