import { DurableObject } from "cloudflare:workers";
import { encode, FrameBuffer, MalformedPacket, UnsupportedProtocolVersion } from "../mqtt/codec";
import type { Packet } from "../mqtt/codec/types";
import {
  announcedLevel,
  type ConnState,
  type Ctx,
  type Effect,
  handlePacket,
  type Message,
  newConnState,
  parseStatus,
  RC,
  type Result,
  SERVER,
  violation,
  type WillMessage,
} from "../mqtt/session";
import { channelOf, type Identity } from "../mqtt/topics";
import { groupHub, IDENTITY_APP, IDENTITY_SUB, logHubError, type PublishOutcome } from "./common";
import { Delivery } from "./user-delivery";
import { UserStore } from "./user-store";

type Presence = { user_id: string; online: boolean; focus: 0 | 1; last_seen: string | null };

/** What survives hibernation with each socket (versioned; session state lives in SQLite). */
type Attachment = { v: 1; connId: string; openedAt: number; lastSeen: number; conn: ConnState };

const isClosed = (att: Attachment) => att.conn.phase === "closed";

/** A connection that sends no CONNECT within this time is closed. */
const CONNECT_TIMEOUT_MS = 30_000;
/** While connections exist, the alarm also runs at least this often (recovery after eviction). */
const HEARTBEAT_MS = 5 * 60_000;

/**
 * One per `<app>:<user id or imei>`: that identity's MQTT connections (hibernatable WebSockets),
 * its sessions, presence and the retained messages of its user topics. Every entry point
 * catches its errors: a bad client is disconnected alone.
 */
export class UserHub extends DurableObject<Env> {
  private readonly store: UserStore;
  private readonly delivery: Delivery;
  private who: Identity | null;
  private readonly buffers = new Map<string, FrameBuffer>();
  private readonly chains = new Map<string, Promise<void>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new UserStore(ctx.storage.sql);
    const app = this.store.getMeta("app");
    const id = this.store.getMeta("id");
    this.who = app && id ? { app, id } : null;
    this.delivery = new Delivery(
      this.store,
      () => this.liveSockets(),
      (clientId) => this.sessionKey(clientId),
    );
    ctx.blockConcurrencyWhile(async () => {
      try {
        await this.recover();
      } catch (err) {
        logHubError(this.name(), "recover", err);
      }
    });
  }

  /** A session's key for No Local: client ids are per identity, so the identity is part of it. */
  private sessionKey(clientId: string) {
    return `${this.who?.id ?? ""}/${clientId}`;
  }

  private name() {
    return `UserHub:${this.who ? `${this.who.app}:${this.who.id}` : "?"}`;
  }

  private remember(who: Identity) {
    if (this.who?.app === who.app && this.who.id === who.id) return;
    this.who = who;
    this.store.setMeta("app", who.app);
    this.store.setMeta("id", who.id);
  }

  // --- entry points ---------------------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    try {
      const app = request.headers.get(IDENTITY_APP);
      const sub = request.headers.get(IDENTITY_SUB);
      if (!app || !sub || request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("expected a WebSocket upgrade", { status: 426 });
      }
      this.remember({ app, id: sub });
      const pair = new WebSocketPair();
      const now = Date.now();
      this.ctx.acceptWebSocket(pair[1]);
      const att: Attachment = {
        v: 1,
        connId: crypto.randomUUID(),
        openedAt: now,
        lastSeen: now,
        conn: newConnState(),
      };
      pair[1].serializeAttachment(att);
      await this.armAlarm(now + CONNECT_TIMEOUT_MS);
      // [MQTT-6.0.0-3/4] the subprotocol is echoed.
      return new Response(null, {
        status: 101,
        webSocket: pair[0],
        headers: { "sec-websocket-protocol": "mqtt" },
      });
    } catch (err) {
      logHubError(this.name(), "fetch", err);
      return new Response("internal error", { status: 500 });
    }
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const att = ws.deserializeAttachment() as Attachment | null;
    if (!att) return;
    // Packets of one connection are handled strictly in order, even across awaits.
    const prev = this.chains.get(att.connId) ?? Promise.resolve();
    const next = prev
      .then(() => this.onMessage(ws, data))
      .catch(async (err) => {
        logHubError(this.name(), "webSocketMessage", err);
        await this.closeSocket(ws, 1011, "internal error").catch(() => undefined);
      });
    this.chains.set(att.connId, next);
    await next;
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    try {
      await this.connectionLost(ws);
    } catch (err) {
      logHubError(this.name(), "webSocketClose", err);
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    try {
      await this.connectionLost(ws);
    } catch (err) {
      logHubError(this.name(), "webSocketError", err);
    }
  }

  override async alarm(): Promise<void> {
    try {
      await this.sweep(Date.now());
    } catch (err) {
      logHubError(this.name(), "alarm", err);
      await this.ctx.storage.setAlarm(Date.now() + 30_000);
    }
  }

  // --- RPC (Worker, GroupHub) ------------------------------------------------------------

  /** Delivers messages published elsewhere (a group, the push pipeline): connections reached. */
  async deliver(who: Identity, messages: Message[]): Promise<number> {
    try {
      this.remember(who);
      const mine = this.store.memberships();
      let reached = 0;
      for (const m of messages) {
        // A member removed while a group fan-out was under way gets nothing more from it.
        const ch = channelOf(who.app, m.topic);
        if (ch.kind === "group" && !mine.has(ch.id)) continue;
        reached += this.delivery.deliver(m, Date.now());
      }
      return reached;
    } catch (err) {
      logHubError(this.name(), "deliver", err);
      return 0;
    }
  }

  /** A server publish to this user's topic: retained if asked, delivered at QoS 1 or as given. */
  async publish(who: Identity, message: Message): Promise<PublishOutcome> {
    try {
      this.remember(who);
      if (message.retain) this.store.retain(message);
      const delivered = this.delivery.deliver(message, Date.now());
      return { delivered, foreground: this.presenceOf(who).focus === 1 };
    } catch (err) {
      logHubError(this.name(), "publish", err);
      return { delivered: 0, foreground: false };
    }
  }

  /** CONTRACT §2 presence. */
  async presence(who: Identity): Promise<Presence> {
    try {
      return this.presenceOf(who);
    } catch (err) {
      logHubError(this.name(), "presence", err);
      return { user_id: who.id, online: false, focus: 0, last_seen: null };
    }
  }

  private presenceOf(who: Identity): Presence {
    const online = this.liveSockets().length > 0;
    const lastSeen = this.store.getMeta("last_seen");
    return {
      user_id: who.id,
      online,
      focus: online && this.store.getMeta("focus") === "1" ? 1 : 0,
      last_seen: online
        ? new Date().toISOString()
        : lastSeen
          ? new Date(Number(lastSeen)).toISOString()
          : null,
    };
  }

  /** Membership changed in D1: follow it at once (a removed member stops receiving). */
  async setMembership(who: Identity, groupId: string, member: boolean): Promise<void> {
    try {
      this.remember(who);
      this.store.setMembership(groupId, member);
      if (!member) {
        this.store.deleteSubscriptionsWhere((f) => {
          const ch = channelOf(who.app, f);
          return ch.kind === "group" && ch.id === groupId;
        });
      }
      await this.syncGroupRegistrations();
    } catch (err) {
      // D1 stays the truth: the next CONNECT reloads the memberships.
      logHubError(this.name(), "setMembership", err);
    }
  }

  // --- connection handling --------------------------------------------------------------

  private liveSockets(): { ws: WebSocket; att: Attachment }[] {
    return this.ctx
      .getWebSockets()
      .map((ws) => ({ ws, att: ws.deserializeAttachment() as Attachment | null }))
      .filter((x): x is { ws: WebSocket; att: Attachment } => x.att?.conn.phase === "connected");
  }

  private ctxFor(att: Attachment, now: number): Ctx {
    const who = this.who ?? { app: "", id: "" };
    const groups = this.store.memberships();
    const clientId = att.conn.clientId;
    return {
      now,
      who,
      isMember: (g) => groups.has(g),
      // A session with expiry 0 lives only as long as its connection: a new CONNECT ends it.
      hasSession: (c) => (this.store.session(c)?.expiry ?? 0) > 0,
      hasInboundQos2: (id) => this.store.hasInbound(clientId, id),
      inboundQos2Count: () => this.store.inboundCount(clientId),
      newClientId: () => `auto-${crypto.randomUUID()}`,
      hasSubscription: (f) => this.store.hasSubscription(clientId, f),
    };
  }

  private async onMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const att = ws.deserializeAttachment() as Attachment | null;
    if (!att || att.conn.phase === "closed") return;
    const now = Date.now();
    if (typeof data === "string") {
      // [MQTT-6.0.0-1] MQTT travels in binary frames only.
      return this.apply(ws, att, violation(att.conn, RC.MalformedPacket, "text frames are not MQTT"), now);
    }
    let buffer = this.buffers.get(att.connId);
    if (!buffer) {
      buffer = new FrameBuffer(SERVER.maximumPacketSize, att.conn.version);
      this.buffers.set(att.connId, buffer);
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
          this.sendAs(ws, version, packet);
          return this.closeSocket(ws, 1002, "unsupported protocol version");
        }
        // A 5.0 client learns why its CONNECT was refused [MQTT-4.13.1-1]; 3.1.1 has no such code.
        if (announcedLevel(bytes) === 5) {
          const properties = { reasonString: err.message.slice(0, 120) };
          this.sendAs(ws, 5, { type: "connack", sessionPresent: false, reasonCode: err.reason, properties });
        }
      }
      return this.apply(ws, att, violation(att.conn, err.reason, err.message), now);
    }
    att.lastSeen = now;
    for (const packet of packets) {
      if (this.gone(ws, att)) break;
      if (packet.type === "connect") await this.refreshMemberships();
      await this.apply(ws, att, handlePacket(att.conn, packet, this.ctxFor(att, now)), now);
    }
    if (!this.gone(ws, att)) ws.serializeAttachment(att);
  }

  /**
   * Whether the connection has ended, here or meanwhile elsewhere (a takeover while this
   * connection's packets were being handled): a closed attachment is never written back.
   */
  private gone(ws: WebSocket, att: Attachment): boolean {
    if (isClosed(att)) return true;
    const stored = ws.deserializeAttachment() as Attachment | null;
    return !stored || isClosed(stored);
  }

  /** Writes a result's packets, runs its effects, and closes when it says so. */
  private async apply(ws: WebSocket, att: Attachment, result: Result, now: number): Promise<void> {
    const wasConnected = att.conn.phase === "connected";
    att.conn = result.conn;
    for (const packet of result.out) this.send(ws, att.conn, packet);
    for (const effect of result.effects) await this.runEffect(ws, att, effect, now);
    if (!wasConnected && att.conn.phase === "connected" && !this.gone(ws, att)) {
      ws.serializeAttachment(att);
      this.delivery.resume(att.conn.clientId, ws, att.conn.version, now);
      await this.armAlarm(this.deadline(att) ?? now + HEARTBEAT_MS);
    }
    if (result.close) await this.closeSocket(ws, result.close.code, result.close.reason);
  }

  private send(ws: WebSocket, conn: ConnState, packet: Packet) {
    this.sendAs(ws, conn.version, packet);
  }

  private sendAs(ws: WebSocket, version: 4 | 5, packet: Packet) {
    try {
      ws.send(encode(packet, version));
    } catch (err) {
      logHubError(this.name(), `send ${packet.type}`, err);
    }
  }

  private async runEffect(ws: WebSocket, att: Attachment, e: Effect, now: number): Promise<void> {
    const clientId = att.conn.clientId;
    switch (e.type) {
      case "open-session": {
        // The old connection's Will goes out only when its session ends here (Mosquitto's rule,
        // and 5.0's: a new connection before the Will Delay has passed cancels it [MQTT-3.1.3-9]).
        const previous = this.store.session(e.clientId);
        const oldSessionEnds = e.clean || previous?.expiry === 0;
        for (const other of this.ctx.getWebSockets()) {
          const o = other.deserializeAttachment() as Attachment | null;
          if (other === ws || !o || o.conn.clientId !== e.clientId || o.conn.phase !== "connected") continue;
          await this.takeOver(other, o, oldSessionEnds, now);
        }
        this.store.cancelWill(e.clientId); // [MQTT-3.1.3-9] a reconnect ends the Will Delay.
        if (oldSessionEnds) this.store.deleteSession(e.clientId); // [MQTT-3.1.2-4]
        this.store.openSession(
          e.clientId,
          e.expiry,
          att.conn.version,
          att.conn.clientReceiveMaximum,
          att.conn.clientMaximumPacketSize,
        );
        this.store.addConn(att.connId, e.clientId, e.will, now);
        this.store.setMeta("last_seen", now);
        if (oldSessionEnds) await this.syncGroupRegistrations();
        return;
      }
      case "publish":
        return this.route({ ...e.message, from: this.sessionKey(clientId) }, now);
      case "status":
        this.store.setMeta("focus", e.focus);
        return;
      case "subscribe":
        await this.delivery.subscribed(att.conn, e.subscriptions, now, (f) => this.retainedFor(f));
        return this.syncGroupRegistrations();
      case "unsubscribe":
        for (const f of e.filters) this.store.unsubscribe(clientId, f);
        return this.syncGroupRegistrations();
      case "inbound-qos2":
        this.store.addInbound(clientId, e.messageId);
        return;
      case "inbound-qos2-release":
        this.store.releaseInbound(clientId, e.messageId);
        return;
      case "acked":
        return this.delivery.acked(ws, att.conn, e.kind, e.messageId, now);
      case "disconnect":
        if (!e.sendWill) this.store.dropWillOf(att.connId);
        if (e.expiry !== undefined && this.store.session(clientId)?.expiry !== 0) {
          this.store.setSessionExpiry(clientId, Math.min(e.expiry, SERVER.maxSessionExpiry));
        }
        return;
    }
  }

  /** Routes a client's (or a will's) message: user topics here, group topics to their GroupHub. */
  private async route(m: Message, now: number): Promise<void> {
    const who = this.who;
    if (!who) return;
    const ch = channelOf(who.app, m.topic);
    if (ch.kind === "status") {
      // Only a Will gets here (a client's own status message is an effect); CONNECT checked it.
      const status = parseStatus(m.payload);
      if (status?.userId === who.id) this.store.setMeta("focus", status.focus);
      return;
    }
    if (ch.kind === "group") {
      await groupHub(this.env, who.app, ch.id).publish(who.app, ch.id, m);
      return;
    }
    if (m.retain) this.store.retain(m);
    this.delivery.deliver(m, now);
  }

  /**
   * [MQTT-3.1.4-3] session takeover: the older connection of the client id gets DISCONNECT
   * 0x8E (5.0) and is closed; its session lives on in the new connection. Its Will is published
   * only when `sendWill` (the session ends).
   */
  private async takeOver(ws: WebSocket, att: Attachment, sendWill: boolean, now: number): Promise<void> {
    if (att.conn.version === 5)
      this.send(ws, att.conn, { type: "disconnect", reasonCode: RC.SessionTakenOver });
    this.markClosed(ws, att);
    const record = this.store.removeConn(att.connId);
    try {
      ws.close(1000, "session taken over");
    } catch {
      // already closed
    }
    if (record?.will && sendWill) await this.publishWill(record.clientId, record.will, now);
  }

  private markClosed(ws: WebSocket, att: Attachment): void {
    this.buffers.delete(att.connId);
    this.chains.delete(att.connId);
    att.conn = { ...att.conn, phase: "closed" };
    try {
      ws.serializeAttachment(att);
    } catch {
      // the socket is already gone
    }
  }

  /**
   * A connection ended: its Will (a normal DISCONNECT has already discarded it), session end,
   * presence. Idempotent.
   */
  private async connectionLost(ws: WebSocket): Promise<void> {
    const att = ws.deserializeAttachment() as Attachment | null;
    if (!att) return;
    const wasConnected = att.conn.phase === "connected";
    this.markClosed(ws, att);
    const record = this.store.removeConn(att.connId);
    if (record) await this.endConnection(record.clientId, record.will, Date.now());
    else if (wasConnected) this.updatePresence(Date.now());
  }

  private async endConnection(clientId: string, will: WillMessage | undefined, now: number): Promise<void> {
    const session = this.store.session(clientId);
    if (session) {
      if (session.expiry === 0) this.store.deleteSession(clientId);
      else this.store.endSession(clientId, now);
    }
    this.updatePresence(now);
    if (will) {
      // [MQTT-3.1.3-9] MQTT 5 Will Delay: published when the delay or the session ends, first.
      const delay = Math.min(will.delay, session?.expiry ?? 0);
      if (delay > 0) {
        this.store.scheduleWill(clientId, will, now + delay * 1000);
        await this.armAlarm(now + delay * 1000);
      } else {
        await this.publishWill(clientId, will, now);
      }
    }
    if (session?.expiry === 0) {
      await this.syncGroupRegistrations().catch((err) => logHubError(this.name(), "unregister", err));
    } else if (session) {
      await this.armAlarm(now + session.expiry * 1000);
    }
  }

  /** Publishes a Will; a failure is logged, never thrown (the connection is gone either way). */
  private async publishWill(clientId: string, will: WillMessage, now: number): Promise<void> {
    try {
      const { delay: _, ...message } = will;
      await this.route({ ...message, from: this.sessionKey(clientId) }, now);
    } catch (err) {
      logHubError(this.name(), "will", err);
    }
  }

  private updatePresence(now: number) {
    this.store.setMeta("last_seen", now);
    if (this.liveSockets().length === 0) this.store.setMeta("focus", 0);
  }

  private async closeSocket(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
    await this.connectionLost(ws);
  }

  // --- groups, alarm, recovery ----------------------------------------------------------

  /** Retained messages a new subscription receives: the user's own, or its groups'. */
  private async retainedFor(filter: string): Promise<Message[]> {
    const who = this.who;
    if (!who) return [];
    const ch = channelOf(who.app, filter);
    if (ch.kind === "user") return this.store.retainedMessages(Date.now());
    if (ch.kind !== "group") return [];
    const groups = ch.id === "+" ? [...this.store.memberships()] : [ch.id];
    const lists = await Promise.all(groups.map((g) => groupHub(this.env, who.app, g).retained(who.app, g)));
    // RPC widens the tuple type of user properties; the values are the same.
    return lists.flat() as Message[];
  }

  private async refreshMemberships(): Promise<void> {
    const who = this.who;
    if (!who) return;
    const { results } = await this.env.DB.prepare(
      "SELECT m.group_id FROM group_members m JOIN apps a ON a.id = m.app_id WHERE a.name = ? AND m.user_id = ?",
    )
      .bind(who.app, who.id)
      .all<{ group_id: string }>();
    this.store.setMemberships(results.map((r) => r.group_id));
  }

  /** Registers with the GroupHubs our subscriptions reach, and leaves the others. */
  private async syncGroupRegistrations(): Promise<void> {
    const who = this.who;
    if (!who) return;
    const mine = this.store.memberships();
    const wanted = new Set<string>();
    for (const s of this.store.subscriptions()) {
      const ch = channelOf(who.app, s.filter);
      if (ch.kind !== "group") continue;
      if (ch.id === "+") for (const g of mine) wanted.add(g);
      else if (mine.has(ch.id)) wanted.add(ch.id);
    }
    const had = new Set<string>(JSON.parse(this.store.getMeta("group_regs") ?? "[]") as string[]);
    const add = [...wanted].filter((g) => !had.has(g));
    const drop = [...had].filter((g) => !wanted.has(g));
    if (add.length === 0 && drop.length === 0) return;
    this.store.setMeta("group_regs", JSON.stringify([...wanted]));
    await Promise.all([
      ...add.map((g) => groupHub(this.env, who.app, g).addSubscriber(who.app, g, who.id)),
      ...drop.map((g) => groupHub(this.env, who.app, g).removeSubscriber(who.app, g, who.id)),
    ]);
  }

  private deadline(att: Attachment): number | null {
    if (att.conn.phase === "awaiting-connect") return att.openedAt + CONNECT_TIMEOUT_MS;
    // [MQTT-3.1.2-24] 1.5 times the Keep Alive without a packet ends the connection.
    return att.conn.keepalive > 0 ? att.lastSeen + att.conn.keepalive * 1500 : null;
  }

  private async armAlarm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** One alarm sweeps everything timed: keepalives, connect timeouts, delayed wills, expired sessions. */
  private async sweep(now: number): Promise<void> {
    let next = Number.POSITIVE_INFINITY;
    for (const ws of this.ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as Attachment | null;
      if (!att || att.conn.phase === "closed") continue;
      const due = this.deadline(att);
      if (due !== null && due <= now) {
        if (att.conn.version === 5 && att.conn.phase === "connected") {
          this.send(ws, att.conn, { type: "disconnect", reasonCode: RC.KeepAliveTimeout });
        }
        await this.closeSocket(ws, 1000, "keepalive timeout");
        continue;
      }
      next = Math.min(next, due ?? now + HEARTBEAT_MS, now + HEARTBEAT_MS);
    }
    for (const due of this.store.dueWills(now)) await this.publishWill(due.clientId, due.will, now);
    for (const clientId of this.store.expiredSessions(now)) this.store.deleteSession(clientId);
    await this.syncGroupRegistrations();
    for (const t of [this.store.nextWillDue(), this.store.nextSessionExpiry()])
      if (t !== null) next = Math.min(next, t);
    if (Number.isFinite(next)) await this.ctx.storage.setAlarm(Math.max(next, now + 1000));
  }

  /** After an eviction or deploy, connections recorded without a socket are ended (their Wills sent). */
  private async recover(): Promise<void> {
    const live = new Set(
      this.ctx.getWebSockets().map((ws) => (ws.deserializeAttachment() as Attachment | null)?.connId),
    );
    const now = Date.now();
    for (const connId of this.store.connIds()) {
      if (live.has(connId)) continue;
      const record = this.store.removeConn(connId);
      if (record) await this.endConnection(record.clientId, record.will, now);
    }
  }
}
