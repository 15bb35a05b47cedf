import type { Message } from "../mqtt/session";
import { fromJson, logHubError, toJson } from "./common";

/** A member owed a message, with the share groups it was picked for. */
export type Owed = { user: string; shares: string[] };

/** Group messages taken but not yet handed to every member hub, at most (back-pressure above). */
export const OUTBOX_BACKLOG = 1000;
/**
 * Deliveries (messages × their members) taken but not yet handed over, at most: a group of
 * 1,000 members holds a publisher's PUBACK while 20 of its messages wait, so a burst is taken
 * in at the pace of the fan-out instead of piling up work that delays every member's packets
 * (and their keepalive answers). One message is always taken, however large the group.
 */
export const OUTBOX_DELIVERIES = 20_000;
/**
 * A message to at most this many members, with nothing in the outbox, is handed to their hubs
 * before the PUBACK instead of being written here first: once every member hub has taken it
 * (each keeps what it owes a session in its own storage), the platform holds it. Only the
 * members whose hub failed are written to the outbox, owed a retry.
 */
export const DIRECT_MEMBERS = 64;
/** Messages fanned out at once; the rest wait in storage, in order. */
const WINDOW = 64;
/** An alarm re-drives what is left this long after a message was taken (after a restart, say). */
const SAFETY_MS = 30_000;
/** A member hub that keeps failing is retried with backoff up to this, for MAX_AGE_MS. */
const MAX_RETRY_MS = 60_000;
const MAX_AGE_MS = 24 * 3600_000;

const SCHEMA = `CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL,
  message TEXT NOT NULL, at INTEGER NOT NULL, retry TEXT);`;

type Row = { seq: number; app: string; message: string; at: number; retry: string | null };

/**
 * A GroupHub's outbox: a client's QoS 1/2 message (or Will) to a group is written here before
 * its publisher gets the PUBACK, and fanned out from here, so a restart between the PUBACK and
 * the members' hubs taking it loses nothing (at-least-once: a message fanned out when the
 * restart came goes out again). A row is deleted once every member hub has taken it; members
 * whose hub failed are recorded in the row and retried with backoff by the object's alarm.
 * While a member is owed a retry, later messages queue for it behind (per-member order holds)
 * and the other members are served as usual. Above OUTBOX_BACKLOG messages or OUTBOX_DELIVERIES
 * deliveries not yet fanned out, `add` waits: the publisher's PUBACK is held, which is MQTT's
 * own flow control.
 */
export class GroupOutbox {
  private cursor = 0;
  private readonly inflight = new Set<number>();
  /** Members with a retry owed: new messages are owed to them too, behind it, not tried. */
  private readonly parked = new Set<string>();
  /** Rows not yet fanned out once, and their deliveries (what back-pressure counts). */
  private fresh = 0;
  private freshDeliveries = 0;
  private readonly weights = new Map<number, number>();
  /** Rows in the outbox (fresh and owed): a direct hand-over only when there are none. */
  private rows = 0;
  /** Owed rows up to this seq are retried by the pump; later ones wait for the next alarm. */
  private retryThrough = 0;
  private readonly room: (() => void)[] = [];
  private alarmAt: number | null | undefined;
  private retryMs = 1000;

  constructor(
    private readonly sql: SqlStorage,
    private readonly storage: DurableObjectStorage,
    private readonly label: string,
    private readonly targetsOf: (m: Message) => Owed[],
    private readonly deliver: (app: string, m: Message, to: Owed[]) => Promise<Owed[]>,
    /** How many members a message goes to now (its deliveries, for back-pressure). */
    private readonly members: () => number = () => 1,
  ) {
    sql.exec(SCHEMA);
    const rows = sql.exec<{ retry: string | null }>("SELECT retry FROM outbox").toArray();
    this.rows = rows.length;
    for (const r of rows) {
      if (r.retry === null) this.fresh++;
      else for (const o of JSON.parse(r.retry) as Owed[]) this.parked.add(o.user);
    }
    // Woken after a restart with messages left: they go out now, before anything newer.
    if (rows.length) setTimeout(() => this.redrive(), 0);
  }

  /**
   * Takes a message durably (the caller acknowledges it once this returns), then fans it out.
   * A small group's message with nothing queued ahead goes to the member hubs first and is
   * written only for those whose hub failed (DIRECT_MEMBERS).
   */
  async add(app: string, m: Message): Promise<void> {
    const weight = Math.max(1, this.members());
    const full = () =>
      this.fresh >= OUTBOX_BACKLOG || (this.fresh > 0 && this.freshDeliveries + weight > OUTBOX_DELIVERIES);
    while (full()) await new Promise<void>((r) => this.room.push(r));
    if (weight <= DIRECT_MEMBERS && this.rows === 0 && this.parked.size === 0)
      return this.handOver(app, m, weight);
    this.insert(app, m, null, weight);
    await this.ensureAlarm(Date.now() + SAFETY_MS);
    this.pump();
  }

  /** Hands a message straight to its members' hubs; the failed ones are owed it from the outbox. */
  private async handOver(app: string, m: Message, weight: number): Promise<void> {
    this.fresh++;
    this.freshDeliveries += weight;
    let owed: Owed[];
    try {
      owed = await this.deliver(app, m, this.targetsOf(m));
    } finally {
      this.fresh--;
      this.freshDeliveries -= weight;
      for (const wake of this.room.splice(0)) wake();
    }
    if (!owed.length) return;
    this.insert(app, m, owed, 0);
    for (const o of owed) this.parked.add(o.user);
    await this.ensureAlarm(Date.now() + this.retryMs);
  }

  /** Writes a row: fresh (`owed` null, fanned out by `pump`) or owed to the members named. */
  private insert(app: string, m: Message, owed: Owed[] | null, weight: number): void {
    const { seq } = this.sql
      .exec<{ seq: number }>(
        "INSERT INTO outbox (app, message, at, retry) VALUES (?, ?, ?, ?) RETURNING seq",
        app,
        toJson(m),
        Date.now(),
        owed ? JSON.stringify(owed) : null,
      )
      .one();
    this.rows++;
    if (owed) return;
    this.fresh++;
    this.freshDeliveries += weight;
    this.weights.set(seq, weight);
  }

  /** The alarm: retries what members are owed and re-drives anything left behind. */
  async alarm(): Promise<void> {
    this.alarmAt = null;
    // Each round of retries waits twice as long as the one before, while members keep failing.
    if (this.parked.size) this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    this.redrive();
    const left = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n;
    if (left > 0) await this.ensureAlarm(Date.now() + SAFETY_MS);
  }

  /** Messages in the outbox (fresh and owed), for tests and operators. */
  size(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n;
  }

  private redrive(): void {
    this.retryThrough = this.sql.exec<{ n: number }>("SELECT COALESCE(MAX(seq), 0) AS n FROM outbox").one().n;
    this.parked.clear();
    this.cursor = 0;
    this.pump();
  }

  /** Starts fanning out the rows after the cursor, up to WINDOW at once. */
  private pump(): void {
    let room = WINDOW - this.inflight.size;
    while (room > 0) {
      const limit = room + [...this.inflight].filter((seq) => seq > this.cursor).length;
      const rows = this.sql
        .exec<Row>(
          "SELECT seq, app, message, at, retry FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
          this.cursor,
          limit,
        )
        .toArray();
      for (const row of rows) {
        if (room <= 0) break;
        this.cursor = row.seq;
        if (this.inflight.has(row.seq)) continue;
        if (row.retry !== null && row.seq > this.retryThrough) continue; // owed since: the alarm retries it
        room--;
        void this.run(row);
      }
      if (rows.length < limit) return;
    }
  }

  private async run(row: Row): Promise<void> {
    this.inflight.add(row.seq);
    try {
      const m = fromJson<Message>(row.message) as Message;
      const now = Date.now();
      const owedBefore = row.retry === null ? null : (JSON.parse(row.retry) as Owed[]);
      if ((m.expiresAt !== undefined && m.expiresAt <= now) || now - row.at > MAX_AGE_MS) {
        if (owedBefore?.length && (m.expiresAt === undefined || m.expiresAt > now))
          logHubError(
            this.label,
            "outbox",
            new Error(`gave up on ${owedBefore.length} member(s) after 24 h`),
          );
        this.settle(row, []);
        return;
      }
      const targets = owedBefore ?? this.targetsOf(m);
      const skip = owedBefore ? [] : targets.filter((t) => this.parked.has(t.user));
      const now2 = owedBefore ? targets : targets.filter((t) => !this.parked.has(t.user));
      const failed = await this.deliver(row.app, m, now2);
      const owed = [...skip, ...failed];
      this.settle(row, owed);
      if (owed.length) {
        for (const o of owed) this.parked.add(o.user);
        await this.ensureAlarm(Date.now() + this.retryMs);
      } else if (owedBefore) this.retryMs = 1000;
    } catch (err) {
      // Left in storage: the alarm sends it again.
      logHubError(this.label, "outbox", err);
    } finally {
      this.inflight.delete(row.seq);
      this.pump();
    }
  }

  /** Deletes a row everyone has, or records who is still owed it. */
  private settle(row: Row, owed: Owed[]): void {
    if (owed.length)
      this.sql.exec("UPDATE outbox SET retry = ? WHERE seq = ?", JSON.stringify(owed), row.seq);
    else {
      this.sql.exec("DELETE FROM outbox WHERE seq = ?", row.seq);
      this.rows--;
    }
    if (row.retry !== null) return;
    this.fresh--;
    this.freshDeliveries -= this.weights.get(row.seq) ?? 0;
    this.weights.delete(row.seq);
    for (const wake of this.room.splice(0)) wake();
  }

  private async ensureAlarm(at: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.storage.getAlarm();
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.storage.setAlarm(at);
  }
}
