import type { QoS } from "../mqtt/codec/types";
import type { Message, MessageProps } from "../mqtt/session";
import { fromJson, toJson } from "./common";

/** The retained-messages table, the same in a UserHub (user topics) and a GroupHub (group topics). */
export const RETAINED_SCHEMA =
  "CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL, props TEXT, expires_at INTEGER);";

/** Stores a retained message; an empty payload clears the topic's [MQTT-3.3.1-10/11]. */
export const retainMessage = (sql: SqlStorage, m: Message): void => {
  if (m.payload.byteLength === 0) {
    sql.exec("DELETE FROM retained WHERE topic = ?", m.topic);
    return;
  }
  sql.exec(
    `INSERT INTO retained (topic, payload, qos, props, expires_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (topic) DO UPDATE SET payload = excluded.payload, qos = excluded.qos, props = excluded.props,
     expires_at = excluded.expires_at`,
    m.topic,
    m.payload,
    m.qos,
    m.props ? toJson(m.props) : null,
    m.expiresAt ?? null,
  );
};

/** The retained messages that have not expired (expired ones are dropped on the way). */
export const liveRetained = (sql: SqlStorage, now: number): Message[] => {
  sql.exec("DELETE FROM retained WHERE expires_at IS NOT NULL AND expires_at <= ?", now);
  return sql
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
};
