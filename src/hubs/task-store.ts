import {
  afterReceipt,
  type ReceiptState,
  SESSION_QUEUE_FULL,
  type StoredState,
  type TargetChannel,
} from "../push/truth";

/**
 * One task's delivery records in its TaskHub's SQLite: a row per target (a device, or an MQTT
 * topic) with its msg_id, state and reason, and the target's events. Every number of the task's
 * status is counted from these rows. Local SQLite writes: no D1 write per target.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS targets (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, target TEXT NOT NULL,
  msg_id TEXT NOT NULL, user_id TEXT, device_token TEXT, state TEXT NOT NULL, reason TEXT,
  reached INTEGER NOT NULL DEFAULT 0, handed INTEGER NOT NULL DEFAULT 0, removed_at INTEGER, updated_at INTEGER NOT NULL,
  UNIQUE (channel, target));
CREATE INDEX IF NOT EXISTS targets_msg ON targets (msg_id);
CREATE INDEX IF NOT EXISTS targets_state ON targets (state, id);
CREATE INDEX IF NOT EXISTS targets_device ON targets (device_token);
CREATE INDEX IF NOT EXISTS targets_user ON targets (user_id, channel);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, target_id INTEGER NOT NULL, at INTEGER NOT NULL,
  state TEXT NOT NULL, channel TEXT, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_target ON events (target_id, seq);
CREATE TABLE IF NOT EXISTS batches (key TEXT PRIMARY KEY, done INTEGER NOT NULL DEFAULT 0);
`;

export type NewTarget = {
  channel: TargetChannel;
  /** The device token, or the MQTT topic. */
  target: string;
  msgId: string;
  userId: string | null;
  deviceToken: string | null;
  state: "pending" | "sent" | "failed";
  reason: string | null;
  reached: number;
  events: { state: string; detail: string }[];
};

/** A provider's (or a hub's) answer for one target of a batch. */
export type Outcome = {
  target: string;
  state: "sent" | "pending" | "failed";
  reason: string | null;
  detail: string;
  reached?: number;
  /** The platform unregistered the device after this answer. */
  removed?: boolean;
};

export type TargetRow = {
  id: number;
  channel: string;
  target: string;
  msg_id: string;
  user_id: string | null;
  device_token: string | null;
  state: StoredState;
  reason: string | null;
  reached: number;
  handed: number;
  removed_at: number | null;
  updated_at: number;
};

const OPEN = "('pending', 'sending')";

/** A failure `record` wrote: the target failed (it was open), and/or its device was unregistered. */
export type Failure = { target: string; msgId: string; reason: string; failed: boolean; dead: boolean };

/** What a claim took, and since when another run holds the rest (null: nobody does). */
export type Claim = { claimed: string[]; heldSince: number | null };

/** One page of a stalled task's resume (TaskStore.resume). */
export type Resume = {
  /** The page message to queue again (no cursor: the first page), or null: the audience is expanded. */
  page: { cursor?: string } | null;
  /** Open targets in messages of one channel, each under its key (recorded open already). */
  batches: { key: string; channel: string; targets: { target: string; userId: string | null }[] }[];
  /** The `after` of the next page, or null: this was the last. */
  next: number | null;
  /** Nothing is left to send: every target has its outcome. */
  complete: boolean;
};

export class TaskStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(SCHEMA);
  }

  getMeta(k: string): string | null {
    return this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = ?", k).toArray()[0]?.v ?? null;
  }
  clearMeta(k: string): void {
    this.sql.exec("DELETE FROM meta WHERE k = ?", k);
  }
  setMeta(k: string, v: string | number): void {
    this.sql.exec(
      "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
      k,
      String(v),
    );
  }

  private event(targetId: number, at: number, state: string, channel: string | null, detail: string): void {
    this.sql.exec(
      "INSERT INTO events (target_id, at, state, channel, detail) VALUES (?, ?, ?, ?, ?)",
      targetId,
      at,
      state,
      channel,
      detail.slice(0, 500),
    );
  }

  /**
   * Records new targets with their first events; a target recorded before is left as it is.
   * Answers the rows it recorded.
   */
  add(rows: NewTarget[], now: number): NewTarget[] {
    const added: NewTarget[] = [];
    for (const r of rows) {
      const inserted = this.sql
        .exec<{ id: number }>(
          `INSERT INTO targets (channel, target, msg_id, user_id, device_token, state, reason, reached, handed, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, target) DO NOTHING RETURNING id`,
          r.channel,
          r.target,
          r.msgId,
          r.userId,
          r.deviceToken,
          r.state,
          r.reason,
          r.reached,
          r.state === "sent" ? 1 : 0,
          now,
        )
        .toArray()[0];
      if (!inserted) continue;
      added.push(r);
      const channel = r.channel === "device" ? null : r.channel;
      for (const e of r.events) this.event(inserted.id, now, e.state, channel, e.detail);
    }
    return added;
  }

  /** The task moved (a page expanded, a claim, an answer, a batch finished): see `resume`. */
  progress(now: number): void {
    this.setMeta("progress_at", now);
  }

  /**
   * A task that made no progress since `staleBefore` has lost a queue message (a page, a batch,
   * an MQTT retry): answers, a page of `limit` at a time (`after`: the previous page's `next`),
   * what to queue again. Its open targets (pending, or claimed by a run that died) come in new
   * messages of at most `size`, under keys of this resume (`r<n>:`) recorded as open; after the
   * last page every older open key is closed, so the task waits for the new messages only.
   * Targets sent, answered or received are not in them: nothing is sent twice, and a target a
   * message still alive has meanwhile taken is skipped by its claim. Null when the task moved.
   */
  resume(staleBefore: number, after: number, limit: number, size: number, now: number): Resume | null {
    if (after === 0) {
      if (Number(this.getMeta("progress_at") ?? 0) >= staleBefore) return null;
      this.setMeta("resumes", Number(this.getMeta("resumes") ?? 0) + 1);
      this.progress(now);
    }
    const prefix = `r${this.getMeta("resumes")}:`;
    const rows = this.sql
      .exec<{ id: number; channel: string; target: string; user_id: string | null }>(
        `SELECT id, channel, target, user_id FROM targets WHERE id > ? AND state IN ${OPEN} ORDER BY id LIMIT ?`,
        after,
        limit + 1,
      )
      .toArray();
    const page = rows.slice(0, limit);
    const byChannel = new Map<string, { target: string; userId: string | null }[]>();
    for (const r of page) {
      const list = byChannel.get(r.channel) ?? [];
      list.push({ target: r.target, userId: r.user_id });
      byChannel.set(r.channel, list);
    }
    const batches: Resume["batches"] = [];
    for (const [channel, list] of byChannel)
      for (let i = 0; i < list.length; i += size) {
        const targets = list.slice(i, i + size);
        batches.push({ key: `${prefix}${channel}:${targets[0]?.target}`, channel, targets });
      }
    this.openBatches(batches.map((b) => b.key));
    const last = rows.length <= limit;
    if (last)
      this.sql.exec(
        "UPDATE batches SET done = 1 WHERE done = 0 AND substr(key, 1, ?) <> ?",
        prefix.length,
        prefix,
      );
    const cursor = this.getMeta("cursor");
    return {
      page: after > 0 || this.getMeta("expanded") === "1" ? null : cursor === null ? {} : { cursor },
      batches,
      next: last ? null : (page[page.length - 1]?.id ?? null),
      complete: last && this.finishBatch(null),
    };
  }

  /** Queue messages (provider batches, MQTT retries) the task waits for, by key. */
  openBatches(keys: string[]): void {
    for (const k of keys)
      this.sql.exec("INSERT INTO batches (key) VALUES (?) ON CONFLICT (key) DO NOTHING", k);
  }
  /** A batch has its outcomes (idempotent); answers whether the whole task has. */
  finishBatch(key: string | null): boolean {
    if (key !== null) this.sql.exec("UPDATE batches SET done = 1 WHERE key = ?", key);
    if (this.getMeta("expanded") !== "1") return false;
    return (
      (this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM batches WHERE done = 0").toArray()[0]?.n ??
        0) === 0
    );
  }

  /**
   * Claims the pending targets among `targets` (and claims older than `staleBefore`, whose batch
   * died mid-send). `heldSince`: the newest claim left to another run (a duplicate delivery of
   * the message, or a run that died recently), or null when none is.
   */
  claim(channel: string, targets: string[], now: number, staleBefore: number): Claim {
    const claimed: string[] = [];
    let heldSince: number | null = null;
    for (const t of targets) {
      const row = this.sql
        .exec<{ id: number }>(
          `UPDATE targets SET state = 'sending', updated_at = ? WHERE channel = ? AND target = ?
           AND (state = 'pending' OR (state = 'sending' AND updated_at < ?)) RETURNING id`,
          now,
          channel,
          t,
          staleBefore,
        )
        .toArray()[0];
      if (row) {
        claimed.push(t);
        continue;
      }
      const held = this.sql
        .exec<{ at: number }>(
          "SELECT updated_at AS at FROM targets WHERE channel = ? AND target = ? AND state = 'sending'",
          channel,
          t,
        )
        .toArray()[0];
      if (held) heldSince = Math.max(heldSince ?? 0, held.at);
    }
    return { claimed, heldSince };
  }

  /**
   * The answers for claimed targets. A target a receipt reached meanwhile keeps its state.
   * Answers the failures this call recorded, for their webhook events: `failed` when the target
   * was still open (so a second record of the same answer reports nothing), `dead` when the
   * answer unregistered the device and no earlier one had.
   */
  record(channel: string, outcomes: Outcome[], now: number): Failure[] {
    const failures: Failure[] = [];
    for (const o of outcomes) {
      const before =
        o.state === "failed"
          ? this.sql
              .exec<{ msg_id: string; state: StoredState; removed_at: number | null }>(
                "SELECT msg_id, state, removed_at FROM targets WHERE channel = ? AND target = ?",
                channel,
                o.target,
              )
              .toArray()[0]
          : undefined;
      const row = this.sql
        .exec<{ id: number }>(
          o.state === "sent"
            ? `UPDATE targets SET state = CASE WHEN state IN ${OPEN} THEN 'sent' ELSE state END, reason = NULL,
               handed = 1, reached = reached + ?, updated_at = ? WHERE channel = ? AND target = ? RETURNING id`
            : `UPDATE targets SET state = CASE WHEN state IN ${OPEN} THEN '${o.state}' ELSE state END, reason = ?,
               removed_at = ?, updated_at = ? WHERE channel = ? AND target = ? RETURNING id`,
          ...(o.state === "sent"
            ? [o.reached ?? 0, now, channel, o.target]
            : [o.reason, o.removed ? now : null, now, channel, o.target]),
        )
        .toArray()[0];
      if (row) this.event(row.id, now, o.state === "pending" ? "retry" : o.state, channel, o.detail);
      if (!row || !before) continue;
      const failed = before.state === "pending" || before.state === "sending";
      const dead = o.removed === true && before.removed_at === null;
      if (failed || dead)
        failures.push({ target: o.target, msgId: before.msg_id, reason: o.reason ?? "", failed, dead });
    }
    return failures;
  }

  /**
   * Ends the open targets among `targets` (cancelled, expired, failed); answers the ones it ended.
   * A failure's event names the target's last answer (e.g. `Timeout`) when it had one.
   */
  close(channel: string, targets: string[], state: StoredState, reason: string, detail: string, now: number) {
    const closed: { target: string; msgId: string }[] = [];
    for (const t of targets) {
      const row = this.sql
        .exec<{ id: number; msg_id: string; last: string | null }>(
          `SELECT id, msg_id, reason AS last FROM targets WHERE channel = ? AND target = ? AND state IN ${OPEN}`,
          channel,
          t,
        )
        .toArray()[0];
      if (!row) continue;
      this.sql.exec(
        "UPDATE targets SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
        state,
        reason,
        now,
        row.id,
      );
      closed.push({ target: t, msgId: row.msg_id });
      const last = state === "failed" && row.last ? `; the last answer was ${row.last}` : "";
      this.event(row.id, now, state, channel, `${detail}${last}`);
    }
    return closed;
  }

  /**
   * A cancelled task that made no progress since `staleBefore` (a queue message of it was lost, so
   * nothing will end its targets): its open targets (pending, or claimed by a run that died) are
   * cancelled, `limit` at a time; after the last of them every open batch is closed, so the task
   * waits for no message. `first`: the first call of this end, which checks the task is stalled.
   * Answers the targets it ended by channel and whether any are left, or null when the task moved.
   */
  cancelOpen(staleBefore: number, first: boolean, limit: number, detail: string, now: number) {
    if (first) {
      if (Number(this.getMeta("progress_at") ?? 0) >= staleBefore) return null;
      this.progress(now);
    }
    const rows = this.sql
      .exec<{ channel: string; target: string; state: StoredState }>(
        `SELECT channel, target, state FROM targets WHERE state IN ${OPEN} ORDER BY id LIMIT ?`,
        limit + 1,
      )
      .toArray();
    const ended = new Map<string, number>();
    for (const r of rows.slice(0, limit)) {
      // Claimed by a run that died: the provider may have taken it, and the event says so.
      const why = r.state === "sending" ? `${detail}; a send of it was under way and never answered` : detail;
      if (this.close(r.channel, [r.target], "cancelled", "CANCELLED", why, now).length)
        ended.set(r.channel, (ended.get(r.channel) ?? 0) + 1);
    }
    const more = rows.length > limit;
    if (!more) this.sql.exec("UPDATE batches SET done = 1 WHERE done = 0");
    return { ended, more };
  }

  /** MQTT targets nobody acknowledged by the task's expiry: expired (the broker has dropped them). */
  expireUnacknowledged(now: number): number {
    const rows = this.sql
      .exec<{ id: number }>(
        `UPDATE targets SET state = 'expired', reason = 'EXPIRED', updated_at = ? WHERE channel = 'mqtt'
         AND (state IN ${OPEN} OR (state = 'sent' AND reached = 0)) RETURNING id`,
        now,
      )
      .toArray();
    for (const r of rows) this.event(r.id, now, "expired", "mqtt", "the message expired on the broker");
    return rows.length;
  }

  /**
   * MQTT targets whose message a session's queue dropped at its bound (a UserHub reports them):
   * failed as SESSION_QUEUE_FULL, unless already received (another session of the user had it)
   * or ended otherwise. Answers the msg_ids it failed.
   */
  dropped(msgIds: string[], detail: string, now: number): string[] {
    const failed: string[] = [];
    for (const msgId of msgIds) {
      const row = this.sql
        .exec<{ id: number }>(
          `UPDATE targets SET state = 'failed', reason = ?, updated_at = ? WHERE msg_id = ? AND channel = 'mqtt'
           AND state IN ('pending', 'sending', 'sent') RETURNING id`,
          SESSION_QUEUE_FULL,
          now,
          msgId,
        )
        .toArray()[0];
      if (!row) continue;
      failed.push(msgId);
      this.event(row.id, now, "failed", "mqtt", detail);
    }
    return failed;
  }

  /**
   * Applies receipts: each msg_id moves its targets up (received < dismissed < opened). A
   * `received` reaching a target whose provider send has not started cancels that send. A PUBACK
   * counts for the MQTT target only. Answers how many msg_ids were known.
   */
  receipt(items: { msgId: string; state: ReceiptState }[], source: string, now: number): number {
    let known = 0;
    for (const item of items) {
      const rows = this.sql
        .exec<Pick<TargetRow, "id" | "channel" | "state" | "reason">>(
          source === "puback"
            ? "SELECT id, channel, state, reason FROM targets WHERE msg_id = ? AND channel = 'mqtt'"
            : "SELECT id, channel, state, reason FROM targets WHERE msg_id = ?",
          item.msgId,
        )
        .toArray();
      if (rows.length === 0) continue;
      known += 1;
      for (const r of rows) {
        // One session's queue dropped it; another session of the user may still acknowledge it.
        const dropped = r.state === "failed" && r.reason === SESSION_QUEUE_FULL;
        const next = afterReceipt(dropped ? "sent" : r.state, item.state);
        if (!next) continue;
        this.sql.exec(
          "UPDATE targets SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
          next,
          dropped ? null : r.reason,
          now,
          r.id,
        );
        const cancels = r.state === "pending" && r.channel !== "mqtt";
        this.event(
          r.id,
          now,
          next,
          r.channel,
          cancels ? `${source}; the provider send is cancelled` : source,
        );
      }
    }
    return known;
  }
}
