import { RECEIVED_OR_BEYOND, type StoredState, type TargetEvent } from "../push/truth";
import type { TargetRow } from "./task-store";

export type Counts = {
  total: number;
  sent: number;
  delivered: number;
  failed: number;
  received: number;
  opened: number;
  /** Not part of the status shape: decides whether a task that sent nothing ends expired. */
  expired: number;
  byChannel: Record<"mqtt" | "apns" | "getui" | "fcm", { sent: number; received: number; opened: number }>;
};

/**
 * The read side of a task's records (src/hubs/task-store.ts): the status numbers, failures,
 * pages of targets and one target's events. `sent` counts targets ever handed over (to MQTT,
 * or accepted by a provider): a provider send a receipt cancelled is received, never sent.
 */
export class TaskReads {
  constructor(private readonly sql: SqlStorage) {}

  counts(): Counts {
    const rows = this.sql
      .exec<{ channel: string; state: StoredState; n: number; reached: number; handed: number }>(
        `SELECT channel, state, COUNT(*) AS n, SUM(reached) AS reached, SUM(handed) AS handed FROM targets
         GROUP BY channel, state`,
      )
      .toArray();
    const zero = () => ({ sent: 0, received: 0, opened: 0 });
    const c: Counts = {
      total: 0,
      sent: 0,
      delivered: 0,
      failed: 0,
      received: 0,
      opened: 0,
      expired: 0,
      byChannel: { mqtt: zero(), apns: zero(), getui: zero(), fcm: zero() },
    };
    for (const r of rows) {
      const ch = c.byChannel[r.channel as keyof Counts["byChannel"]];
      c.total += r.n;
      c.delivered += r.reached ?? 0;
      if (r.state === "failed") c.failed += r.n;
      if (r.state === "expired") c.expired += r.n;
      c.sent += r.handed ?? 0;
      if (ch) ch.sent += r.handed ?? 0;
      if (RECEIVED_OR_BEYOND.includes(r.state)) {
        c.received += r.n;
        if (ch) ch.received += r.n;
      }
      if (r.state === "opened") {
        c.opened += r.n;
        if (ch) ch.opened += r.n;
      }
    }
    return c;
  }

  failures(limit: number): { device_token: string; reason: string | null }[] {
    return this.sql
      .exec<{ device_token: string; reason: string | null }>(
        "SELECT target AS device_token, reason FROM targets WHERE state = 'failed' ORDER BY updated_at, id LIMIT ?",
        limit,
      )
      .toArray();
  }

  /** A page of targets after `cursor` (a row id), optionally in one state. */
  list(state: StoredState | null, cursor: number, limit: number): TargetRow[] {
    const states = state === "pending" ? ["pending", "sending"] : state ? [state] : null;
    return this.sql
      .exec<TargetRow>(
        states
          ? `SELECT * FROM targets WHERE id > ? AND state IN (${states.map(() => "?").join(", ")}) ORDER BY id LIMIT ?`
          : "SELECT * FROM targets WHERE id > ? ORDER BY id LIMIT ?",
        cursor,
        ...(states ?? []),
        limit,
      )
      .toArray();
  }

  /** A device's target, or a user's: its MQTT user topic, else the first of its devices. */
  find(by: { deviceToken: string } | { userId: string }): TargetRow | null {
    const rows =
      "deviceToken" in by
        ? this.sql.exec<TargetRow>(
            "SELECT * FROM targets WHERE device_token = ? ORDER BY id LIMIT 1",
            by.deviceToken,
          )
        : this.sql.exec<TargetRow>(
            "SELECT * FROM targets WHERE user_id = ? ORDER BY channel = 'mqtt' DESC, id LIMIT 1",
            by.userId,
          );
    return rows.toArray()[0] ?? null;
  }

  events(targetId: number): TargetEvent[] {
    return this.sql
      .exec<TargetEvent>(
        "SELECT at, state, channel, detail FROM events WHERE target_id = ? ORDER BY seq",
        targetId,
      )
      .toArray();
  }
}
