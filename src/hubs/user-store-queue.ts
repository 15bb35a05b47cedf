import type { QoS } from "../mqtt/codec/types";
import type { Message, MessageProps } from "../mqtt/session";
import { msgIdOn } from "../push/msg-id";
import { fromJson, toJson } from "./common";
import type { SessionStore } from "./user-store-sessions";

/**
 * Bounds of a session's stored queue (messages waiting, not those in flight): 1,000 messages and
 * 4 MiB of payload. Past either, the oldest waiting messages are dropped and counted.
 */
export const MAX_QUEUED = 1000;
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/** Messages a bound dropped from a session's queue, and the push msg_ids among them. */
export type Dropped = { count: number; msgIds: string[] };

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

/**
 * A UserHub's outbound queue (in-flight and offline QoS 1/2, table `outq`) and the inbound
 * QoS 2 ids awaiting PUBREL (table `inq2`).
 */
export class QueueStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly sessions: SessionStore,
  ) {}

  // --- outbound queue -------------------------------------------------------------------
  /** Queues a message; answers what the queue's bounds dropped to make room (oldest first). */
  enqueue(clientId: string, m: Message, qos: QoS, retain: boolean, subIds: number[]): Dropped | null {
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
    const load = this.sql
      .exec<{ n: number; bytes: number | null }>(
        "SELECT COUNT(*) AS n, SUM(length(payload)) AS bytes FROM outq WHERE client_id = ? AND state = 0",
        clientId,
      )
      .toArray()[0];
    if (!load || (load.n <= MAX_QUEUED && (load.bytes ?? 0) <= MAX_QUEUED_BYTES)) return null;
    // The oldest waiting messages go until both bounds hold again.
    const over: { seq: number; props: string | null }[] = [];
    let { n } = load;
    let bytes = load.bytes ?? 0;
    const rows = this.sql
      .exec<{ seq: number; size: number; props: string | null }>(
        "SELECT seq, length(payload) AS size, props FROM outq WHERE client_id = ? AND state = 0 ORDER BY seq",
        clientId,
      )
      .toArray();
    for (const row of rows) {
      if (n <= MAX_QUEUED && bytes <= MAX_QUEUED_BYTES) break;
      over.push(row);
      n -= 1;
      bytes -= row.size;
    }
    const msgIds: string[] = [];
    for (const row of over) {
      this.sql.exec("DELETE FROM outq WHERE seq = ?", row.seq);
      const msgId = msgIdOn({ props: fromJson<MessageProps>(row.props) });
      if (msgId !== undefined) msgIds.push(msgId);
    }
    this.countDropped(clientId, over.length);
    return { count: over.length, msgIds };
  }
  /** Counts messages dropped for a session (queue bounds, QoS 0 behind a backlog). */
  countDropped(clientId: string, n: number): void {
    this.sessions.forget(clientId);
    this.sql.exec("UPDATE sessions SET dropped = dropped + ? WHERE client_id = ?", n, clientId);
  }
  queuedCount(clientId: string): number {
    return (
      this.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM outq WHERE client_id = ? AND state = 0", clientId)
        .toArray()[0]?.n ?? 0
    );
  }
  /** How many messages are in flight to the session, and their payload bytes. */
  inflightLoad(clientId: string): { n: number; bytes: number } {
    const row = this.sql
      .exec<{ n: number; bytes: number | null }>(
        "SELECT COUNT(*) AS n, SUM(length(payload)) AS bytes FROM outq WHERE client_id = ? AND state > 0",
        clientId,
      )
      .toArray()[0];
    return { n: row?.n ?? 0, bytes: row?.bytes ?? 0 };
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
  /** Messages of the session in the queue, sent or not. */
  pendingCount(clientId: string): number {
    return (
      this.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM outq WHERE client_id = ?", clientId)
        .toArray()[0]?.n ?? 0
    );
  }
  /** A free packet identifier for the session [MQTT-2.2.1-3], also unused by `alsoInUse`. */
  allocateId(clientId: string, alsoInUse?: ReadonlySet<number>): number {
    const used = new Set<number>(alsoInUse);
    const rows = this.sql.exec<{ message_id: number }>(
      "SELECT message_id FROM outq WHERE client_id = ? AND message_id IS NOT NULL",
      clientId,
    );
    for (const r of rows) used.add(r.message_id);
    let id = this.sessions.session(clientId)?.next_id ?? 1;
    while (used.has(id)) id = (id % 65535) + 1;
    this.sessions.forget(clientId);
    this.sql.exec("UPDATE sessions SET next_id = ? WHERE client_id = ?", (id % 65535) + 1, clientId);
    return id;
  }
  markSent(seq: number, messageId: number): void {
    this.sql.exec("UPDATE outq SET state = 1, message_id = ? WHERE seq = ?", messageId, seq);
  }
  dropQueued(seq: number): void {
    this.sql.exec("DELETE FROM outq WHERE seq = ?", seq);
  }
  /** The push msg_id of an in-flight QoS 1 message, if it carries one. */
  msgIdOf(clientId: string, messageId: number): string | undefined {
    const row = this.sql
      .exec<{ props: string | null }>(
        "SELECT props FROM outq WHERE client_id = ? AND message_id = ? AND state = 1 AND qos = 1",
        clientId,
        messageId,
      )
      .toArray()[0];
    return row ? msgIdOn({ props: fromJson<MessageProps>(row.props) }) : undefined;
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
}
