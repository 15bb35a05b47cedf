import { FrameBuffer, MalformedPacket, UnsupportedProtocolVersion } from "../mqtt/codec";
import type { Packet } from "../mqtt/codec/types";
import {
  announcedLevel,
  type Ctx,
  type Effect,
  handlePacket,
  RC,
  type Result,
  SERVER,
  violation,
} from "../mqtt/session";
import { logHubError } from "./common";
import {
  type Attachment,
  armAlarm,
  deadline,
  gone,
  HEARTBEAT_MS,
  type Hub,
  hubLabel,
  PACKET_DEADLINE_MS,
  readAttachment,
  saveAttachment,
  send,
  sendAs,
  sessionKey,
} from "./user-context";
import { refreshMemberships, retainedFor, route, syncGroupRegistrations } from "./user-groups";
import { closeSocket, takeOver } from "./user-lifecycle";
import { reportReceipts } from "./user-receipts";

/** The session core's view of stored state for one connection (synchronous SQLite lookups). */
function ctxFor(hub: Hub, att: Attachment, now: number): Ctx {
  const who = hub.who ?? { app: "", id: "" };
  const groups = hub.store.memberships();
  const clientId = att.conn.clientId;
  return {
    now,
    who,
    keepalivePolicy: att.ka,
    isMember: (g) => groups.has(g),
    // A session with expiry 0 lives only as long as its connection: a new CONNECT ends it.
    hasSession: (c) => (hub.store.sessions.session(c)?.expiry ?? 0) > 0,
    hasInboundQos2: (id) => hub.store.queue.hasInbound(clientId, id),
    inboundQos2Count: () => hub.store.queue.inboundCount(clientId),
    newClientId: () => `auto-${crypto.randomUUID()}`,
    hasSubscription: (f) => hub.store.sessions.hasSubscription(clientId, f),
    subscriptionCount: () => hub.store.sessions.subscriptionCount(clientId),
  };
}

/** One WebSocket frame: decoded into packets, each handled by the session core in turn. */
export async function onMessage(hub: Hub, ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
  const att = readAttachment(ws);
  if (!att || att.conn.phase === "closed") return;
  const now = Date.now();
  if (typeof data === "string") {
    // [MQTT-6.0.0-1] MQTT travels in binary frames only.
    return apply(hub, ws, att, violation(att.conn, RC.MalformedPacket, "text frames are not MQTT"), now);
  }
  let buffer = hub.buffers.get(att.connId);
  if (!buffer) {
    buffer = new FrameBuffer(SERVER.maximumPacketSize, att.conn.version);
    hub.buffers.set(att.connId, buffer);
  }
  const bytes = new Uint8Array(data);
  let packets: Packet[];
  try {
    packets = buffer.push(bytes);
  } catch (err) {
    if (!(err instanceof MalformedPacket)) throw err;
    if (att.conn.phase === "awaiting-connect") {
      if (err instanceof UnsupportedProtocolVersion) {
        // [MQTT-3.1.2-2] CONNACK 0x01 (3.1.1 format, read by 3.1 clients too) or 0x84, then close.
        const { packet, version } = err.connack();
        sendAs(hub, ws, version, packet);
        return closeSocket(hub, ws, 1002, "unsupported protocol version");
      }
      // A 5.0 client learns why its CONNECT was refused [MQTT-4.13.1-1]; 3.1.1 has no such code.
      if (announcedLevel(bytes) === 5) {
        const properties = { reasonString: err.message.slice(0, 120) };
        sendAs(hub, ws, 5, { type: "connack", sessionPresent: false, reasonCode: err.reason, properties });
      }
    }
    return apply(hub, ws, att, violation(att.conn, err.reason, err.message), now);
  }
  // Keepalive counts whole packets [MQTT-3.1.2-24]; a started one must end by PACKET_DEADLINE_MS.
  if (packets.length > 0) att.lastSeen = now;
  // Bytes left after a completed packet belong to a new one, begun in this frame.
  const begun = packets.length > 0 ? now : (att.partialSince ?? now);
  const started = buffer.pendingBytes > 0 ? begun : undefined;
  const newlyStarted = started !== undefined && started !== att.partialSince;
  att.partialSince = started;
  for (const packet of packets) {
    if (gone(ws, att)) break;
    if (packet.type === "connect") await refreshMemberships(hub, now);
    if (packet.type === "publish") hub.metrics.add("mqtt_in");
    await apply(hub, ws, att, handlePacket(att.conn, packet, ctxFor(hub, att, now)), now);
  }
  if (gone(ws, att)) return;
  saveAttachment(ws, att);
  if (newlyStarted) await armAlarm(hub, now + PACKET_DEADLINE_MS);
}

/** Writes a result's packets, runs its effects, and closes when it says so. */
async function apply(hub: Hub, ws: WebSocket, att: Attachment, result: Result, now: number): Promise<void> {
  const wasConnected = att.conn.phase === "connected";
  att.conn = result.conn;
  // A PUBLISH's PUBACK / PUBREC goes once the message is routed (a group's hub has stored it):
  // an acknowledged QoS 1 message is never lost to a restart in between. A SUBACK goes once the
  // GroupHubs know of the subscription (before its retained messages): a message published
  // right after the SUBACK reaches it.
  let unsent = true;
  const flush = () => {
    if (!unsent) return;
    unsent = false;
    for (const packet of result.out) send(hub, ws, att.conn, packet);
  };
  const deferred = result.effects.some((e) => e.type === "publish" || e.type === "subscribe");
  if (!deferred) flush();
  try {
    for (const effect of result.effects) await runEffect(hub, ws, att, effect, now, flush);
  } catch (err) {
    if (!deferred || !unsent) throw err;
    // Not acknowledged: the client sends it again after reconnecting [MQTT-4.4.0-1].
    logHubError(hubLabel(hub), "publish / subscribe", err);
    if (att.conn.version === 5) send(hub, ws, att.conn, { type: "disconnect", reasonCode: RC.ServerBusy });
    return closeSocket(hub, ws, 1011, "server busy");
  }
  flush();
  if (!wasConnected && att.conn.phase === "connected" && !gone(ws, att)) {
    saveAttachment(ws, att);
    // A session just created (CONNACK without Session Present) has nothing in flight.
    const present = result.out.some((p) => p.type === "connack" && p.sessionPresent);
    hub.delivery.resume(att.conn.clientId, ws, att.conn.version, now, present);
    await armAlarm(hub, deadline(att) ?? now + HEARTBEAT_MS);
  }
  if (result.close) await closeSocket(hub, ws, result.close.code, result.close.reason);
}

async function runEffect(
  hub: Hub,
  ws: WebSocket,
  att: Attachment,
  e: Effect,
  now: number,
  flush: () => void,
): Promise<void> {
  const { store } = hub;
  const clientId = att.conn.clientId;
  switch (e.type) {
    case "open-session": {
      // The old connection's Will goes out only when its session ends here (Mosquitto's rule,
      // and 5.0's: a new connection before the Will Delay has passed cancels it [MQTT-3.1.3-9]).
      const previous = store.sessions.session(e.clientId);
      const oldSessionEnds = e.clean || previous?.expiry === 0;
      for (const other of hub.ctx.getWebSockets()) {
        const o = readAttachment(other);
        if (other === ws || !o || o.conn.clientId !== e.clientId || o.conn.phase !== "connected") continue;
        await takeOver(hub, other, o, oldSessionEnds, now);
      }
      store.conns.cancelWill(e.clientId); // [MQTT-3.1.3-9] a reconnect ends the Will Delay.
      if (oldSessionEnds && previous) store.sessions.deleteSession(e.clientId); // [MQTT-3.1.2-4]
      store.sessions.openSession(
        e.clientId,
        e.expiry,
        att.conn.version,
        att.conn.clientReceiveMaximum,
        att.conn.clientMaximumPacketSize,
      );
      store.conns.addConn(att.connId, e.clientId, e.will, now);
      hub.metrics.add("mqtt_connects");
      store.setMeta("last_seen", now);
      if (oldSessionEnds) await syncGroupRegistrations(hub);
      return;
    }
    case "publish":
      return route(hub, { ...e.message, from: sessionKey(hub, clientId) }, now);
    case "status":
      store.setMeta("focus", e.focus);
      return;
    case "subscribe": {
      const existed = e.subscriptions.map((s) => store.sessions.subscribe(clientId, s));
      await syncGroupRegistrations(hub);
      flush(); // the SUBACK, then the retained messages [MQTT-3.8.4-4]
      await hub.delivery.sendRetained(att.conn, e.subscriptions, existed, now, (f) => retainedFor(hub, f));
      return;
    }
    case "unsubscribe":
      for (const f of e.filters) store.sessions.unsubscribe(clientId, f);
      return syncGroupRegistrations(hub);
    case "inbound-qos2":
      store.queue.addInbound(clientId, e.messageId);
      return;
    case "inbound-qos2-release":
      store.queue.releaseInbound(clientId, e.messageId);
      return;
    case "acked": {
      const msgId = hub.delivery.acked(ws, att.conn, e.kind, e.messageId, now);
      // A push's PUBACK: its MQTT target is received (CONTRACT §2 "Delivery truth").
      if (msgId !== undefined) reportReceipts(hub, [{ msgId, state: "received" }], "PUBACK from the device");
      return;
    }
    case "disconnect":
      if (!e.sendWill) store.conns.dropWillOf(att.connId);
      if (e.expiry !== undefined && store.sessions.session(clientId)?.expiry !== 0) {
        store.sessions.setSessionExpiry(clientId, Math.min(e.expiry, SERVER.maxSessionExpiry));
      }
      return;
  }
}
