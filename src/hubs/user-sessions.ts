import { type Attachment, type Hub, liveSockets } from "./user-context";

/** One MQTT session of an identity as operators see it (docs/partner-api.md "Lists"). */
export type SessionView = {
  client_id: string;
  protocol_level: number;
  connected: boolean;
  /** Connected since (live), or disconnected since (a persistent session kept offline). */
  since: string | null;
  /** Session Expiry Interval in seconds (0: ends with the connection). */
  expiry_s: number;
  /** When an offline session will be dropped; null while connected or never. */
  expires_at: string | null;
  subscriptions: number;
  /** QoS 1/2 messages waiting for the client (not yet sent). */
  queued: number;
  /** Sent and not yet acknowledged. */
  inflight: number;
  /** Dropped from the offline queue because it was full. */
  dropped: number;
};

/** 5.0's "never expires" (0xFFFFFFFF). */
const NEVER = 0xffffffff;
const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());

/** The identity's sessions, connected ones first, then by client id. Reads only. */
export function sessionsOf(hub: Hub): SessionView[] {
  const { store } = hub;
  const live = new Map<string, Attachment>();
  for (const { att } of liveSockets(hub)) live.set(att.conn.clientId, att);
  const subs = new Map<string, number>();
  for (const s of store.sessions.subscriptions()) subs.set(s.clientId, (subs.get(s.clientId) ?? 0) + 1);
  return store.sessions
    .sessions()
    .map((s): SessionView => {
      const att = live.get(s.client_id);
      const queued = store.queue.queuedCount(s.client_id);
      const ended = att ? null : s.ended_at;
      return {
        client_id: s.client_id,
        protocol_level: s.version,
        connected: Boolean(att),
        since: iso(att ? att.openedAt : s.ended_at),
        expiry_s: s.expiry,
        expires_at: ended != null && s.expiry < NEVER ? iso(ended + s.expiry * 1000) : null,
        subscriptions: subs.get(s.client_id) ?? 0,
        queued,
        inflight: store.queue.pendingCount(s.client_id) - queued,
        dropped: s.dropped,
      };
    })
    .sort((a, b) => Number(b.connected) - Number(a.connected) || a.client_id.localeCompare(b.client_id));
}
