import type { QoS } from "../mqtt/codec/types";
import type { Message, MessageProps, StoredSubscription, WillMessage } from "../mqtt/session";

/**
 * A UserHub's durable state in its SQLite storage: sessions, subscriptions, the outbound queue
 * (in-flight and offline QoS 1/2), inbound QoS 2 ids, retained messages of the user's topics,
 * live connections (for recovery after eviction), pending wills and presence.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS sessions (client_id TEXT PRIMARY KEY, expiry INTEGER NOT NULL, version INTEGER NOT NULL,
  ended_at INTEGER, next_id INTEGER NOT NULL DEFAULT 1, receive_max INTEGER NOT NULL DEFAULT 65535,
  max_packet INTEGER NOT NULL DEFAULT 268435455, dropped INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS subs (client_id TEXT NOT NULL, filter TEXT NOT NULL, qos INTEGER NOT NULL,
  no_local INTEGER NOT NULL, rap INTEGER NOT NULL, rh INTEGER NOT NULL, sub_id INTEGER, PRIMARY KEY (client_id, filter));
CREATE TABLE IF NOT EXISTS outq (seq INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL, message_id INTEGER,
  state INTEGER NOT NULL DEFAULT 0, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,
  retain INTEGER NOT NULL, props TEXT, expires_at INTEGER, sub_ids TEXT);
CREATE INDEX IF NOT EXISTS outq_client ON outq (client_id, state, seq);
CREATE TABLE IF NOT EXISTS inq2 (client_id TEXT NOT NULL, message_id INTEGER NOT NULL, PRIMARY KEY (client_id, message_id));
CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL, props TEXT, expires_at INTEGER);
CREATE TABLE IF NOT EXISTS conns (conn_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, will TEXT, connected_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS wills (client_id TEXT PRIMARY KEY, will TEXT NOT NULL, due_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS memberships (group_id TEXT PRIMARY KEY);
`;

/** Offline queue bound per session; past it the oldest queued message is dropped and counted. */
export const MAX_QUEUED = 1000;

export type QueuedRow = {
  seq: number;
  message_id: number | null;
  state: number;
  topic: string;
  payload: ArrayBuffer;
  qos: number;
  retain: number;
  props: string | null;
  expires_at: number | null;
  sub_ids: string | null;
};

type SessionRow = {
  client_id: string;
  expiry: number;
  version: number;
  ended_at: number | null;
  next_id: number;
  receive_max: number;
  max_packet: number;
  dropped: number;
};

/** JSON that keeps Uint8Array (correlation data, will payloads) as base64. */
const replacer = (_: string, v: unknown) =>
  v instanceof Uint8Array ? { $b64: btoa(String.fromCharCode(...v)) } : v;
const reviver = (_: string, v: unknown) =>
  v && typeof v === "object" && "$b64" in v
    ? Uint8Array.from(atob(String((v as { $b64: string }).$b64)), (c) => c.charCodeAt(0))
    : v;
export const toJson = (v: unknown) => JSON.stringify(v, replacer);
export const fromJson = <T>(s: string | null): T | undefined =>
  s ? (JSON.parse(s, reviver) as T) : undefined;

export class UserStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(SCHEMA);
  }

  getMeta(k: string): string | null {
    const row = this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = ?", k).toArray()[0];
    return row?.v ?? null;
  }
  setMeta(k: string, v: string | number): void {
    this.sql.exec(
      "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
      k,
      String(v),
    );
  }

  // --- sessions -------------------------------------------------------------------------
  session(clientId: string): SessionRow | undefined {
    return this.sql.exec<SessionRow>("SELECT * FROM sessions WHERE client_id = ?", clientId).toArray()[0];
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
    this.sql.exec("UPDATE sessions SET expiry = ? WHERE client_id = ?", expiry, clientId);
  }
  endSession(clientId: string, now: number): void {
    this.sql.exec("UPDATE sessions SET ended_at = ? WHERE client_id = ?", now, clientId);
  }
  deleteSession(clientId: string): void {
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
  subscriptions(clientId?: string): (StoredSubscription & { clientId: string })[] {
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
  unsubscribe(clientId: string, filter: string): boolean {
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

  // --- outbound queue -------------------------------------------------------------------
  enqueue(clientId: string, m: Message, qos: QoS, retain: boolean, subIds: number[]): void {
    this.sql.exec(
      `INSERT INTO outq (client_id, topic, payload, qos, retain, props, expires_at, sub_ids)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      clientId,
      m.topic,
      m.payload,
      qos,
      retain ? 1 : 0,
      m.props ? toJson(m.props) : null,
      m.expiresAt ?? null,
      subIds.length ? JSON.stringify(subIds) : null,
    );
    const over = this.queuedCount(clientId) - MAX_QUEUED;
    if (over > 0) {
      this.sql.exec(
        `DELETE FROM outq WHERE seq IN (SELECT seq FROM outq WHERE client_id = ? AND state = 0 ORDER BY seq LIMIT ?)`,
        clientId,
        over,
      );
      this.sql.exec("UPDATE sessions SET dropped = dropped + ? WHERE client_id = ?", over, clientId);
    }
  }
  queuedCount(clientId: string): number {
    return (
      this.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM outq WHERE client_id = ? AND state = 0", clientId)
        .toArray()[0]?.n ?? 0
    );
  }
  inflight(clientId: string): QueuedRow[] {
    return this.sql
      .exec<QueuedRow>("SELECT * FROM outq WHERE client_id = ? AND state > 0 ORDER BY seq", clientId)
      .toArray();
  }
  nextQueued(clientId: string, limit: number): QueuedRow[] {
    return this.sql
      .exec<QueuedRow>(
        "SELECT * FROM outq WHERE client_id = ? AND state = 0 ORDER BY seq LIMIT ?",
        clientId,
        limit,
      )
      .toArray();
  }
  /** A free packet identifier for the session [MQTT-2.2.1-3]. */
  allocateId(clientId: string): number {
    const used = new Set(
      this.sql
        .exec<{ message_id: number }>(
          "SELECT message_id FROM outq WHERE client_id = ? AND message_id IS NOT NULL",
          clientId,
        )
        .toArray()
        .map((r) => r.message_id),
    );
    let id = this.session(clientId)?.next_id ?? 1;
    while (used.has(id)) id = (id % 65535) + 1;
    this.sql.exec("UPDATE sessions SET next_id = ? WHERE client_id = ?", (id % 65535) + 1, clientId);
    return id;
  }
  markSent(seq: number, messageId: number): void {
    this.sql.exec("UPDATE outq SET state = 1, message_id = ? WHERE seq = ?", messageId, seq);
  }
  dropQueued(seq: number): void {
    this.sql.exec("DELETE FROM outq WHERE seq = ?", seq);
  }
  /** PUBACK / PUBCOMP: the message is done. PUBREC: it moves to awaiting PUBCOMP. */
  ack(clientId: string, messageId: number, kind: "puback" | "pubrec" | "pubcomp"): boolean {
    if (kind === "pubrec") {
      return (
        this.sql.exec(
          "UPDATE outq SET state = 2 WHERE client_id = ? AND message_id = ? AND state = 1 AND qos = 2",
          clientId,
          messageId,
        ).rowsWritten > 0
      );
    }
    const state = kind === "puback" ? 1 : 2;
    return (
      this.sql.exec(
        "DELETE FROM outq WHERE client_id = ? AND message_id = ? AND state = ?",
        clientId,
        messageId,
        state,
      ).rowsWritten > 0
    );
  }

  // --- inbound QoS 2 --------------------------------------------------------------------
  hasInbound(clientId: string, id: number): boolean {
    return (
      this.sql.exec("SELECT 1 FROM inq2 WHERE client_id = ? AND message_id = ?", clientId, id).toArray()
        .length > 0
    );
  }
  inboundCount(clientId: string): number {
    return (
      this.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM inq2 WHERE client_id = ?", clientId)
        .toArray()[0]?.n ?? 0
    );
  }
  addInbound(clientId: string, id: number): void {
    this.sql.exec("INSERT OR IGNORE INTO inq2 (client_id, message_id) VALUES (?, ?)", clientId, id);
  }
  releaseInbound(clientId: string, id: number): void {
    this.sql.exec("DELETE FROM inq2 WHERE client_id = ? AND message_id = ?", clientId, id);
  }

  // --- retained (user topics) -----------------------------------------------------------
  retain(m: Message): void {
    if (m.payload.byteLength === 0) {
      this.sql.exec("DELETE FROM retained WHERE topic = ?", m.topic); // [MQTT-3.3.1-10/11]
      return;
    }
    this.sql.exec(
      `INSERT INTO retained (topic, payload, qos, props, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (topic) DO UPDATE SET payload = excluded.payload, qos = excluded.qos, props = excluded.props,
       expires_at = excluded.expires_at`,
      m.topic,
      m.payload,
      m.qos,
      m.props ? toJson(m.props) : null,
      m.expiresAt ?? null,
    );
  }
  retainedMessages(now: number): Message[] {
    this.sql.exec("DELETE FROM retained WHERE expires_at IS NOT NULL AND expires_at <= ?", now);
    return this.sql
      .exec<{
        topic: string;
        payload: ArrayBuffer;
        qos: number;
        props: string | null;
        expires_at: number | null;
      }>("SELECT * FROM retained")
      .toArray()
      .map((r) => ({
        topic: r.topic,
        payload: new Uint8Array(r.payload),
        qos: r.qos as QoS,
        retain: true,
        props: fromJson<MessageProps>(r.props),
        expiresAt: r.expires_at ?? undefined,
      }));
  }

  // --- connections and wills ------------------------------------------------------------
  addConn(connId: string, clientId: string, will: WillMessage | undefined, now: number): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO conns (conn_id, client_id, will, connected_at) VALUES (?, ?, ?, ?)",
      connId,
      clientId,
      will ? toJson(will) : null,
      now,
    );
  }
  /** Removes a connection record, answering its will (if it still had one). */
  removeConn(connId: string): { clientId: string; will?: WillMessage } | undefined {
    const row = this.sql
      .exec<{ client_id: string; will: string | null }>(
        "SELECT client_id, will FROM conns WHERE conn_id = ?",
        connId,
      )
      .toArray()[0];
    if (!row) return undefined;
    this.sql.exec("DELETE FROM conns WHERE conn_id = ?", connId);
    return { clientId: row.client_id, will: fromJson<WillMessage>(row.will) };
  }
  dropWillOf(connId: string): void {
    this.sql.exec("UPDATE conns SET will = NULL WHERE conn_id = ?", connId);
  }
  connIds(): string[] {
    return this.sql
      .exec<{ conn_id: string }>("SELECT conn_id FROM conns")
      .toArray()
      .map((r) => r.conn_id);
  }
  scheduleWill(clientId: string, will: WillMessage, dueAt: number): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO wills (client_id, will, due_at) VALUES (?, ?, ?)",
      clientId,
      toJson(will),
      dueAt,
    );
  }
  cancelWill(clientId: string): void {
    this.sql.exec("DELETE FROM wills WHERE client_id = ?", clientId);
  }
  /** Takes the delayed wills that are due (they are removed). */
  dueWills(now: number): { clientId: string; will: WillMessage }[] {
    const rows = this.sql
      .exec<{ client_id: string; will: string }>("SELECT client_id, will FROM wills WHERE due_at <= ?", now)
      .toArray();
    this.sql.exec("DELETE FROM wills WHERE due_at <= ?", now);
    return rows.flatMap((r) => {
      const will = fromJson<WillMessage>(r.will);
      return will ? [{ clientId: r.client_id, will }] : [];
    });
  }
  nextWillDue(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT MIN(due_at) AS t FROM wills").toArray()[0]?.t ?? null;
  }

  // --- memberships (a cache of D1's group_members for this identity) --------------------
  memberships(): Set<string> {
    return new Set(
      this.sql
        .exec<{ group_id: string }>("SELECT group_id FROM memberships")
        .toArray()
        .map((r) => r.group_id),
    );
  }
  setMemberships(groupIds: string[]): void {
    this.sql.exec("DELETE FROM memberships");
    for (const g of groupIds) this.sql.exec("INSERT OR IGNORE INTO memberships (group_id) VALUES (?)", g);
  }
  setMembership(groupId: string, member: boolean): void {
    if (member) this.sql.exec("INSERT OR IGNORE INTO memberships (group_id) VALUES (?)", groupId);
    else this.sql.exec("DELETE FROM memberships WHERE group_id = ?", groupId);
  }
}
