import type { WillMessage } from "../mqtt/session";
import { fromJson, toJson } from "./common";

/**
 * A UserHub's live connection records (for recovery after eviction, table `conns`) and the
 * wills waiting out their Will Delay (table `wills`).
 */
export class ConnStore {
  constructor(private readonly sql: SqlStorage) {}

  // --- connections ----------------------------------------------------------------------
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
  /**
   * Discards the wills, of live connections and delayed ones, whose topic `drop` picks (a
   * member removed from the group they aim at, rights revoked): they are never published.
   */
  dropWillsWhere(drop: (topic: string) => boolean): void {
    const live = this.sql
      .exec<{ conn_id: string; will: string }>("SELECT conn_id, will FROM conns WHERE will IS NOT NULL")
      .toArray();
    for (const r of live) if (drop(fromJson<WillMessage>(r.will)?.topic ?? "")) this.dropWillOf(r.conn_id);
    const delayed = this.sql
      .exec<{ client_id: string; will: string }>("SELECT client_id, will FROM wills")
      .toArray();
    for (const r of delayed)
      if (drop(fromJson<WillMessage>(r.will)?.topic ?? "")) this.cancelWill(r.client_id);
  }
  connIds(): string[] {
    return this.sql
      .exec<{ conn_id: string }>("SELECT conn_id FROM conns")
      .toArray()
      .map((r) => r.conn_id);
  }

  // --- delayed wills --------------------------------------------------------------------
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
}
