import { encode, type FrameBuffer } from "../mqtt/codec";
import type { Packet } from "../mqtt/codec/types";
import type { OutAliases } from "../mqtt/out-aliases";
import type { ConnState, KeepalivePolicy } from "../mqtt/session";
import type { Identity } from "../mqtt/topics";
import { type groupHub, logHubError, type StubCache } from "./common";
import type { MetricsBatch } from "./metrics";
import type { Delivery } from "./user-delivery";
import type { UserStore } from "./user-store";

/**
 * What survives hibernation with each socket (versioned; session state lives in SQLite): the
 * protocol state, the keepalive policy the upgrade brought (app settings, device class), and
 * the topic aliases sent to the client (written by Delivery only, see `saveAttachment`).
 */
export type Attachment = {
  v: 1;
  connId: string;
  openedAt: number;
  lastSeen: number;
  conn: ConnState;
  ka?: KeepalivePolicy;
  out?: OutAliases;
  /** Technician login tokens: the session the upgrade's token named (ending it ends this). */
  sid?: string;
  /** When the packet still incomplete in the stream decoder began to arrive (ms). */
  partialSince?: number;
};

export const isClosed = (att: Attachment) => att.conn.phase === "closed";

/**
 * The attachment last stored for each socket, kept in memory so that reading it (every
 * delivery, every packet) costs no deserialization; after hibernation the first read
 * deserializes. Nested values (`conn`, `out`, `ka`) are never changed in place, only replaced,
 * so a shallow copy is a snapshot.
 */
const stored = new WeakMap<WebSocket, Attachment>();

/** The socket's stored attachment as a copy of its own (change it, then `writeAttachment`). */
export function readAttachment(ws: WebSocket): Attachment | null {
  const hit = peekAttachment(ws);
  return hit ? { ...hit } : null;
}

/** The socket's stored attachment, read-only. */
export function peekAttachment(ws: WebSocket): Attachment | null {
  const hit = stored.get(ws);
  if (hit) return hit;
  const att = ws.deserializeAttachment() as Attachment | null;
  if (att) stored.set(ws, att);
  return att;
}

/** Stores an attachment with its socket (and the in-memory copy first: it holds even when the socket is closing). */
export function writeAttachment(ws: WebSocket, att: Attachment): void {
  stored.set(ws, { ...att });
  ws.serializeAttachment(att);
}

/** A connection that sends no CONNECT within this time is closed. */
export const CONNECT_TIMEOUT_MS = 30_000;
/** A packet begun must be complete within this time (slowloris); else the connection is closed. */
export const PACKET_DEADLINE_MS = 10_000;
/** While connections exist, the alarm also runs at least this often (recovery after eviction). */
export const HEARTBEAT_MS = 5 * 60_000;

/**
 * What the UserHub's modules work on, in place of `this`: the object's state and env, its
 * store and delivery, the identity it serves (null until the first upgrade or call names it),
 * per connection, the stream decoder and the chain that keeps its packets in order, and the
 * app registry's bookkeeping.
 */
export type Hub = {
  readonly ctx: DurableObjectState;
  readonly env: Env;
  readonly store: UserStore;
  readonly delivery: Delivery;
  /** Connects and MQTT messages in and out, counted in memory and flushed in batches. */
  readonly metrics: MetricsBatch;
  who: Identity | null;
  readonly buffers: Map<string, FrameBuffer>;
  readonly chains: Map<string, Promise<void>>;
  /** GroupHub stubs by `<app>\0<group id>`, for the messages this identity publishes. */
  readonly groups: StubCache<ReturnType<typeof groupHub>>;
  /** Upgrades under way (counted by the app registry's join, user-registry.ts). */
  opening: number;
  /** The app registry's join and leave steps, one after another. */
  registry: Promise<unknown>;
};

/** A session's key for No Local: client ids are per identity, so the identity is part of it. */
export const sessionKey = (hub: Hub, clientId: string) => `${hub.who?.id ?? ""}/${clientId}`;

export const hubLabel = (hub: Hub) => `UserHub:${hub.who ? `${hub.who.app}:${hub.who.id}` : "?"}`;

export function liveSockets(hub: Hub): { ws: WebSocket; att: Attachment }[] {
  return hub.ctx
    .getWebSockets()
    .map((ws) => ({ ws, att: readAttachment(ws) }))
    .filter((x): x is { ws: WebSocket; att: Attachment } => x.att?.conn.phase === "connected");
}

export function send(hub: Hub, ws: WebSocket, conn: ConnState, packet: Packet) {
  sendAs(hub, ws, conn.version, packet);
}

export function sendAs(hub: Hub, ws: WebSocket, version: 4 | 5, packet: Packet) {
  try {
    ws.send(encode(packet, version));
  } catch (err) {
    logHubError(hubLabel(hub), `send ${packet.type}`, err);
  }
}

/**
 * Writes back an attachment that was read before an await. The outbound topic aliases are
 * Delivery's (it writes them back at once after each send): the stored ones are kept, so a
 * handler's older copy never takes back an alias the client has been told.
 */
export function saveAttachment(ws: WebSocket, att: Attachment): void {
  const current = peekAttachment(ws);
  if (current?.out) att.out = current.out;
  writeAttachment(ws, att);
}

export function markClosed(hub: Hub, ws: WebSocket, att: Attachment): void {
  hub.buffers.delete(att.connId);
  hub.chains.delete(att.connId);
  att.conn = { ...att.conn, phase: "closed" };
  try {
    writeAttachment(ws, att);
  } catch {
    // the socket is already gone
  }
}

/**
 * Whether the connection has ended, here or meanwhile elsewhere (a takeover while this
 * connection's packets were being handled): a closed attachment is never written back.
 */
export function gone(ws: WebSocket, att: Attachment): boolean {
  if (isClosed(att)) return true;
  const current = peekAttachment(ws);
  return !current || isClosed(current);
}

export function deadline(att: Attachment): number | null {
  const packet = att.partialSince !== undefined ? att.partialSince + PACKET_DEADLINE_MS : null;
  const other =
    att.conn.phase === "awaiting-connect"
      ? att.openedAt + CONNECT_TIMEOUT_MS
      : // [MQTT-3.1.2-24] 1.5 times the Keep Alive without a packet ends the connection.
        att.conn.keepalive > 0
        ? att.lastSeen + att.conn.keepalive * 1500
        : null;
  return packet === null ? other : other === null ? packet : Math.min(packet, other);
}

/** Whether the deadline that passed is the started packet's (slowloris), not keepalive's or CONNECT's. */
export const packetLate = (att: Attachment, now: number) =>
  att.partialSince !== undefined && att.partialSince + PACKET_DEADLINE_MS <= now;

export async function armAlarm(hub: Hub, at: number): Promise<void> {
  const current = await hub.ctx.storage.getAlarm();
  if (current === null || current > at) await hub.ctx.storage.setAlarm(at);
}
