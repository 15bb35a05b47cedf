import type { QoS } from "../mqtt/codec/types";
import type { StoredSubscription } from "../mqtt/session";

export type SessionRow = {
  client_id: string;
  expiry: number;
  version: number;
  ended_at: number | null;
  next_id: number;
  receive_max: number;
  max_packet: number;
  dropped: number;
};

type Subscription = StoredSubscription & { clientId: string };

/**
 * A UserHub's sessions and their subscriptions (tables `sessions`, `subs`). Every subscription
 * is also kept in memory once read (each delivery matches against them all); every write to
 * `subs` goes through this class and drops that copy, and a woken object reads it again.
 */
export class SessionStore {
  private all: readonly Subscription[] | null = null;
  /** Session rows read since the object woke (null: no such session); every write drops its row. */
  private readonly rows = new Map<string, SessionRow | null>();

  constructor(private readonly sql: SqlStorage) {}

  // --- sessions -------------------------------------------------------------------------
  /** One session (from memory once read: every delivery asks). */
  session(clientId: string): Readonly<SessionRow> | undefined {
    let row = this.rows.get(clientId);
    if (row === undefined) {
      row =
        this.sql.exec<SessionRow>("SELECT * FROM sessions WHERE client_id = ?", clientId).toArray()[0] ??
        null;
      this.rows.set(clientId, row);
    }
    return row ?? undefined;
  }
  /** A session's row changed outside this class (the queue's counters): read it again. */
  forget(clientId: string): void {
    this.rows.delete(clientId);
  }
  count(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sessions").one().n;
  }
  sessions(): SessionRow[] {
    return this.sql.exec<SessionRow>("SELECT * FROM sessions").toArray();
  }
  openSession(
    clientId: string,
    expiry: number,
    version: number,
    receiveMax: number,
    maxPacket: number,
  ): void {
    this.rows.delete(clientId);
    this.sql.exec(
      `INSERT INTO sessions (client_id, expiry, version, receive_max, max_packet) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (client_id) DO UPDATE SET expiry = excluded.expiry, version = excluded.version, ended_at = NULL,
       receive_max = excluded.receive_max, max_packet = excluded.max_packet`,
      clientId,
      expiry,
      version,
      receiveMax,
      maxPacket,
    );
  }
  setSessionExpiry(clientId: string, expiry: number): void {
    this.rows.delete(clientId);
    this.sql.exec("UPDATE sessions SET expiry = ? WHERE client_id = ?", expiry, clientId);
  }
  endSession(clientId: string, now: number): void {
    this.rows.delete(clientId);
    this.sql.exec("UPDATE sessions SET ended_at = ? WHERE client_id = ?", now, clientId);
  }
  /** Deletes a session with everything kept for it (subscriptions, queue, inbound QoS 2 ids). */
  deleteSession(clientId: string): void {
    this.all = null;
    this.rows.delete(clientId);
    for (const table of ["sessions", "subs", "outq", "inq2"]) {
      this.sql.exec(`DELETE FROM ${table} WHERE client_id = ?`, clientId);
    }
  }
  /** Sessions whose expiry has passed since their connection ended. */
  expiredSessions(now: number): string[] {
    return this.sql
      .exec<{ client_id: string }>(
        "SELECT client_id FROM sessions WHERE ended_at IS NOT NULL AND ended_at + expiry * 1000 <= ?",
        now,
      )
      .toArray()
      .map((r) => r.client_id);
  }
  nextSessionExpiry(): number | null {
    const row = this.sql
      .exec<{ t: number | null }>(
        "SELECT MIN(ended_at + expiry * 1000) AS t FROM sessions WHERE ended_at IS NOT NULL",
      )
      .toArray()[0];
    return row?.t ?? null;
  }

  // --- subscriptions --------------------------------------------------------------------
  /** Every subscription (from memory), or one session's. */
  subscriptions(clientId?: string): readonly Subscription[] {
    if (clientId !== undefined) return this.read(clientId);
    this.all ??= this.read();
    return this.all;
  }
  private read(clientId?: string): Subscription[] {
    const rows = clientId
      ? this.sql.exec<Record<string, number | string | null>>(
          "SELECT * FROM subs WHERE client_id = ?",
          clientId,
        )
      : this.sql.exec<Record<string, number | string | null>>("SELECT * FROM subs");
    return rows.toArray().map((r) => ({
      clientId: String(r.client_id),
      filter: String(r.filter),
      qos: Number(r.qos) as QoS,
      noLocal: r.no_local === 1,
      retainAsPublished: r.rap === 1,
      retainHandling: Number(r.rh) as 0 | 1 | 2,
      subscriptionId: r.sub_id === null ? undefined : Number(r.sub_id),
    }));
  }
  /** Stores a subscription; answers whether it already existed (Retain Handling 1). */
  subscribe(clientId: string, s: StoredSubscription): boolean {
    const existed =
      this.sql.exec("SELECT 1 FROM subs WHERE client_id = ? AND filter = ?", clientId, s.filter).toArray()
        .length > 0;
    this.all = null;
    this.sql.exec(
      `INSERT INTO subs (client_id, filter, qos, no_local, rap, rh, sub_id) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (client_id, filter) DO UPDATE SET qos = excluded.qos, no_local = excluded.no_local,
       rap = excluded.rap, rh = excluded.rh, sub_id = excluded.sub_id`,
      clientId,
      s.filter,
      s.qos,
      s.noLocal ? 1 : 0,
      s.retainAsPublished ? 1 : 0,
      s.retainHandling,
      s.subscriptionId ?? null,
    );
    return existed;
  }
  hasSubscription(clientId: string, filter: string): boolean {
    return (
      this.sql.exec("SELECT 1 FROM subs WHERE client_id = ? AND filter = ?", clientId, filter).toArray()
        .length > 0
    );
  }
  subscriptionCount(clientId: string): number {
    return (
      this.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM subs WHERE client_id = ?", clientId)
        .toArray()[0]?.n ?? 0
    );
  }
  unsubscribe(clientId: string, filter: string): boolean {
    this.all = null;
    return (
      this.sql.exec("DELETE FROM subs WHERE client_id = ? AND filter = ?", clientId, filter).rowsWritten > 0
    );
  }
  deleteSubscriptionsWhere(predicate: (filter: string) => boolean): number {
    let n = 0;
    for (const s of this.subscriptions()) {
      if (predicate(s.filter)) n += this.unsubscribe(s.clientId, s.filter) ? 1 : 0;
    }
    return n;
  }
}
