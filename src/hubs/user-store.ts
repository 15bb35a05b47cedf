import type { Message } from "../mqtt/session";
import { liveRetained, RETAINED_SCHEMA, retainMessage } from "./retained";
import { ConnStore } from "./user-store-conns";
import { QueueStore } from "./user-store-queue";
import { SessionStore } from "./user-store-sessions";

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
CREATE TABLE IF NOT EXISTS conns (conn_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, will TEXT, connected_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS wills (client_id TEXT PRIMARY KEY, will TEXT NOT NULL, due_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS memberships (group_id TEXT PRIMARY KEY);
`;

/**
 * The whole store: meta (identity, presence), retained messages and the membership cache here;
 * sessions and subscriptions, the queues, and connections and wills in their own stores.
 */
export class UserStore {
  readonly sessions: SessionStore;
  readonly queue: QueueStore;
  readonly conns: ConnStore;
  private groups: ReadonlySet<string> | null = null;

  constructor(private readonly sql: SqlStorage) {
    sql.exec(SCHEMA + RETAINED_SCHEMA);
    this.sessions = new SessionStore(sql);
    this.queue = new QueueStore(sql, this.sessions);
    this.conns = new ConnStore(sql);
  }

  /** Meta values read or written since the object woke (every write goes through setMeta). */
  private readonly meta = new Map<string, string | null>();

  getMeta(k: string): string | null {
    if (this.meta.has(k)) return this.meta.get(k) ?? null;
    const v = this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = ?", k).toArray()[0]?.v ?? null;
    this.meta.set(k, v);
    return v;
  }
  /** Writes a meta value; the same value again is not written. */
  setMeta(k: string, v: string | number): void {
    const text = String(v);
    if (this.getMeta(k) === text) return;
    this.sql.exec(
      "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
      k,
      text,
    );
    this.meta.set(k, text);
  }

  // --- retained (user topics) -----------------------------------------------------------
  retain(m: Message): void {
    retainMessage(this.sql, m);
  }
  retainedMessages(now: number): Message[] {
    return liveRetained(this.sql, now);
  }

  // --- memberships (a cache of D1's group_members for this identity) --------------------
  /** The memberships (kept in memory once read; every write goes through here). */
  memberships(): ReadonlySet<string> {
    this.groups ??= new Set(
      this.sql
        .exec<{ group_id: string }>("SELECT group_id FROM memberships")
        .toArray()
        .map((r) => r.group_id),
    );
    return this.groups;
  }
  /** Replaces the memberships, writing only what changed. */
  setMemberships(groupIds: string[]): void {
    const had = this.memberships();
    const now = new Set(groupIds);
    this.groups = null;
    for (const g of had) if (!now.has(g)) this.sql.exec("DELETE FROM memberships WHERE group_id = ?", g);
    for (const g of now) if (!had.has(g)) this.sql.exec("INSERT INTO memberships (group_id) VALUES (?)", g);
  }
  setMembership(groupId: string, member: boolean): void {
    this.groups = null;
    if (member) this.sql.exec("INSERT OR IGNORE INTO memberships (group_id) VALUES (?)", groupId);
    else this.sql.exec("DELETE FROM memberships WHERE group_id = ?", groupId);
  }
}
