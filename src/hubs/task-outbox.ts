import type { WebhookEvent } from "../push/webhooks";

/**
 * A task's webhook events waiting for WEBHOOK_QUEUE, in its TaskHub's SQLite. An event is
 * written here in the same synchronous step as the state change it reports (a target failed, a
 * device found dead, the task finished), so the two are committed together: once the change is
 * recorded its event cannot be lost, and a retry of the caller that finds the change already
 * made has nothing to emit and loses nothing. The TaskHub sends the rows and deletes them once
 * the queue took them; a failed send stays here and is tried again from the hub's alarm.
 * Events are therefore at-least-once (a send whose delete did not commit goes out again).
 */
const SCHEMA =
  "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);";

export class TaskOutbox {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(SCHEMA);
  }

  add(events: WebhookEvent[]): void {
    for (const e of events) this.sql.exec("INSERT INTO outbox (event) VALUES (?)", JSON.stringify(e));
  }

  /** Whether any event is waiting. */
  waiting(): boolean {
    return this.sql.exec("SELECT 1 FROM outbox LIMIT 1").toArray().length > 0;
  }

  /** The oldest `limit` events, with the seq of the last one (to `ack` once the queue took them). */
  oldest(limit: number): { events: WebhookEvent[]; last: number } | null {
    const rows = this.sql
      .exec<{ seq: number; event: string }>("SELECT seq, event FROM outbox ORDER BY seq LIMIT ?", limit)
      .toArray();
    const last = rows[rows.length - 1];
    if (!last) return null;
    return { events: rows.map((r) => JSON.parse(r.event) as WebhookEvent), last: last.seq };
  }

  /** The queue took every event up to `last`. */
  ack(last: number): void {
    this.sql.exec("DELETE FROM outbox WHERE seq <= ?", last);
  }
}
