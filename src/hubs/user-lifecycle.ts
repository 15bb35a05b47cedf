import { RC, type WillMessage } from "../mqtt/session";
import type { Identity } from "../mqtt/topics";
import { logHubError } from "./common";
import {
  type Attachment,
  armAlarm,
  deadline,
  HEARTBEAT_MS,
  type Hub,
  hubLabel,
  liveSockets,
  markClosed,
  packetLate,
  peekAttachment,
  readAttachment,
  send,
  sessionKey,
} from "./user-context";
import { route, syncGroupRegistrations } from "./user-groups";
import { leaveIfIdle } from "./user-registry";

export type Presence = { user_id: string; online: boolean; focus: 0 | 1; last_seen: string | null };

export function presenceOf(hub: Hub, who: Identity): Presence {
  const online = liveSockets(hub).length > 0;
  const lastSeen = hub.store.getMeta("last_seen");
  return {
    user_id: who.id,
    online,
    focus: online && hub.store.getMeta("focus") === "1" ? 1 : 0,
    last_seen: online ? new Date().toISOString() : lastSeen ? new Date(Number(lastSeen)).toISOString() : null,
  };
}

function updatePresence(hub: Hub, now: number) {
  hub.store.setMeta("last_seen", now);
  if (liveSockets(hub).length === 0) hub.store.setMeta("focus", 0);
}

/**
 * [MQTT-3.1.4-3] session takeover: the older connection of the client id gets DISCONNECT
 * 0x8E (5.0) and is closed; its session lives on in the new connection. Its Will is published
 * only when `sendWill` (the session ends).
 */
export async function takeOver(
  hub: Hub,
  ws: WebSocket,
  att: Attachment,
  sendWill: boolean,
  now: number,
): Promise<void> {
  if (att.conn.version === 5)
    send(hub, ws, att.conn, { type: "disconnect", reasonCode: RC.SessionTakenOver });
  markClosed(hub, ws, att);
  const record = hub.store.conns.removeConn(att.connId);
  try {
    ws.close(1000, "session taken over");
  } catch {
    // already closed
  }
  if (record?.will && sendWill) await publishWill(hub, record.clientId, record.will, now);
}

/**
 * A connection ended: its Will (a normal DISCONNECT has already discarded it), session end,
 * presence. Idempotent.
 */
export async function connectionLost(hub: Hub, ws: WebSocket): Promise<void> {
  const att = readAttachment(ws);
  if (!att) return;
  const wasConnected = att.conn.phase === "connected";
  markClosed(hub, ws, att);
  const record = hub.store.conns.removeConn(att.connId);
  if (record) await endConnection(hub, record.clientId, record.will, Date.now());
  else if (wasConnected) updatePresence(hub, Date.now());
  await leaveIfIdle(hub);
}

async function endConnection(
  hub: Hub,
  clientId: string,
  will: WillMessage | undefined,
  now: number,
): Promise<void> {
  const session = hub.store.sessions.session(clientId);
  if (session) {
    if (session.expiry === 0) hub.store.sessions.deleteSession(clientId);
    else hub.store.sessions.endSession(clientId, now);
  }
  updatePresence(hub, now);
  if (will) {
    // [MQTT-3.1.3-9] MQTT 5 Will Delay: published when the delay or the session ends, first.
    const delay = Math.min(will.delay, session?.expiry ?? 0);
    if (delay > 0) {
      hub.store.conns.scheduleWill(clientId, will, now + delay * 1000);
      await armAlarm(hub, now + delay * 1000);
    } else {
      await publishWill(hub, clientId, will, now);
    }
  }
  if (session?.expiry === 0) {
    await syncGroupRegistrations(hub).catch((err) => logHubError(hubLabel(hub), "unregister", err));
  } else if (session) {
    await armAlarm(hub, now + session.expiry * 1000);
  }
}

/** Publishes a Will; a failure is logged, never thrown (the connection is gone either way). */
async function publishWill(hub: Hub, clientId: string, will: WillMessage, now: number): Promise<void> {
  try {
    const { delay: _, ...message } = will;
    await route(hub, { ...message, from: sessionKey(hub, clientId) }, now);
  } catch (err) {
    logHubError(hubLabel(hub), "will", err);
  }
}

export async function closeSocket(hub: Hub, ws: WebSocket, code: number, reason: string): Promise<void> {
  try {
    ws.close(code, reason);
  } catch {
    // already closed
  }
  await connectionLost(hub, ws);
}

/** One alarm sweeps everything timed: keepalives, connect timeouts, delayed wills, expired sessions. */
export async function sweep(hub: Hub, now: number): Promise<void> {
  let next = Number.POSITIVE_INFINITY;
  for (const ws of hub.ctx.getWebSockets()) {
    const att = readAttachment(ws);
    if (!att || att.conn.phase === "closed") continue;
    const due = deadline(att);
    if (due !== null && due <= now) {
      // A packet begun and not finished in time (slowloris) ends like a keepalive timeout: 0x8D.
      const why = packetLate(att, now) ? "packet not completed in time" : "keepalive timeout";
      if (att.conn.version === 5 && att.conn.phase === "connected") {
        const properties = att.conn.problemInfo ? { reasonString: why } : undefined;
        send(hub, ws, att.conn, { type: "disconnect", reasonCode: RC.KeepAliveTimeout, properties });
      }
      await closeSocket(hub, ws, 1000, why);
      continue;
    }
    next = Math.min(next, due ?? now + HEARTBEAT_MS, now + HEARTBEAT_MS);
  }
  for (const due of hub.store.conns.dueWills(now)) await publishWill(hub, due.clientId, due.will, now);
  const expired = hub.store.sessions.expiredSessions(now);
  for (const clientId of expired) hub.store.sessions.deleteSession(clientId);
  await syncGroupRegistrations(hub);
  if (expired.length) await leaveIfIdle(hub);
  for (const t of [hub.store.conns.nextWillDue(), hub.store.sessions.nextSessionExpiry()])
    if (t !== null) next = Math.min(next, t);
  if (Number.isFinite(next)) await hub.ctx.storage.setAlarm(Math.max(next, now + 1000));
}

/** After an eviction or deploy, connections recorded without a socket are ended (their Wills sent). */
export async function recover(hub: Hub): Promise<void> {
  const live = new Set(hub.ctx.getWebSockets().map((ws) => peekAttachment(ws)?.connId));
  const now = Date.now();
  for (const connId of hub.store.conns.connIds()) {
    if (live.has(connId)) continue;
    const record = hub.store.conns.removeConn(connId);
    if (record) await endConnection(hub, record.clientId, record.will, now);
  }
  await leaveIfIdle(hub);
}
