import { encode } from "../mqtt/codec";
import type { Packet, QoS } from "../mqtt/codec/types";
import { type DeliveryPlan, planDelivery, sharedPlan, toPublish } from "../mqtt/deliver";
import { type OutAliases, withOutAlias } from "../mqtt/out-aliases";
import type { ConnState, Message, MessageProps, StoredSubscription } from "../mqtt/session";
import { SHARE_PREFIX, ShareRotation, shareMatches } from "../mqtt/shared";
import { topicMatches } from "../mqtt/topics";
import { msgIdOn } from "../push/msg-id";
import { fromJson } from "./common";
import { type Attachment, writeAttachment } from "./user-context";
import type { UserStore } from "./user-store";
import type { Dropped, QueuedRow } from "./user-store-queue";

/**
 * Payload bytes of the QoS 1/2 messages in flight to one session at most (besides the count
 * window, its Receive Maximum capped at SERVER.maxInflight); one message always may go. What is
 * sent and not acknowledged sits in the runtime's socket buffer: this bounds it for a client that
 * stops reading.
 */
export const MAX_INFLIGHT_BYTES = 1024 * 1024;

type Live = { ws: WebSocket; att: { conn: ConnState; out?: OutAliases } };
type Member = { clientId: string; sub: StoredSubscription };

const encodedFits = (conn: { clientMaximumPacketSize: number }, bytes: Uint8Array) =>
  bytes.byteLength <= conn.clientMaximumPacketSize; // [MQTT-3.1.2-25]

const rowMessage = (r: QueuedRow): Message => ({
  topic: r.topic,
  payload: new Uint8Array(r.payload),
  qos: r.qos as QoS,
  retain: r.retain === 1,
  props: fromJson<MessageProps>(r.props),
  expiresAt: r.expires_at ?? undefined,
});

const rowPlan = (r: QueuedRow): DeliveryPlan => ({
  qos: r.qos as QoS,
  retain: r.retain === 1,
  subscriptionIds: r.sub_ids ? (JSON.parse(r.sub_ids) as number[]) : [],
});

/**
 * QoS 1 messages in flight to a session that ends with its connection, kept in memory only;
 * `msgIds`: the push msg_id of those that carry one (a PUBACK makes the target received).
 */
type Volatile = { next: number; ids: Set<number>; msgIds: Map<number, string>; sizes: Map<number, number> };

const volatileBytes = (v: Volatile | undefined) => {
  let n = 0;
  for (const size of v?.sizes.values() ?? []) n += size;
  return n;
};

/**
 * Outbound delivery of one UserHub: matching, QoS 0 sends, the QoS 1/2 queue with the client's
 * Receive Maximum as in-flight window, acknowledgements, and resending on session resume.
 *
 * A session that ends with its connection (clean session, expiry 0) is never resumed, so nothing
 * it has in flight is ever re-sent [MQTT-4.4.0-1]: its QoS 1 messages are sent and tracked in
 * memory, without a storage write (and the output-gate wait each write costs) per message and
 * per PUBACK. Only what does not fit its Receive Maximum goes to the stored queue, and once
 * something is queued there, later messages queue behind it, in order. If the object is evicted
 * meanwhile, the in-memory ids are forgotten: a late PUBACK for one is ignored, as for any
 * unknown id.
 */
export class Delivery {
  private readonly volatile = new Map<string, Volatile>();
  /** Sessions known (since this object woke) to have nothing in the stored queue. */
  private readonly storedEmpty = new Set<string>();
  /** Whose turn it is in each share group (`$share/…` filter) among this identity's sessions. */
  private readonly rotation = new ShareRotation();

  constructor(
    private readonly store: UserStore,
    private readonly live: () => Live[],
    /** The No Local key of a session (see Message.from). */
    private readonly sessionKey: (clientId: string) => string,
    /** Messages a session's queue bounds dropped (logged by the hub). */
    private readonly dropped: (clientId: string, d: Dropped) => void = () => undefined,
    /** Counts each PUBLISH written to a client (metrics). */
    private readonly onPublishSent: () => void = () => undefined,
  ) {}

  private socketOf(clientId: string): Live | undefined {
    return this.live().find((l) => l.att.conn.clientId === clientId);
  }

  /**
   * Writes a packet: "too-large" when the client's Maximum Packet Size refuses it (the message
   * is never sent to it), "failed" when the socket is closing (a QoS 1/2 message stays queued).
   */
  private write(l: Live, packet: Packet): "sent" | "too-large" | "failed" {
    const { conn } = l.att;
    // MQTT 5 PUBLISHes use topic aliases up to the client's Topic Alias Maximum [MQTT-3.3.2-17].
    const { packet: out, state } =
      packet.type === "publish" && conn.version === 5
        ? withOutAlias(packet, conn.clientTopicAliasMaximum ?? 0, l.att.out)
        : { packet, state: l.att.out };
    const bytes = encode(out, conn.version);
    if (!encodedFits(conn, bytes)) return "too-large";
    try {
      l.ws.send(bytes);
    } catch {
      return "failed";
    }
    if (packet.type === "publish") this.onPublishSent();
    if (state !== l.att.out) {
      // Kept with the socket before anything else runs, so it survives hibernation.
      l.att.out = state;
      try {
        writeAttachment(l.ws, l.att as Attachment);
      } catch {
        // the socket is closing: its aliases end with it
      }
    }
    return "sent";
  }

  private send(l: Live, packet: Packet): boolean {
    return this.write(l, packet) === "sent";
  }

  /**
   * Delivers to every session with a matching subscription, and to one member of each matching
   * share group; answers the deliveries made. `shares` names the share groups to serve: a
   * GroupHub picks one member identity per share group and names here the groups it picked this
   * one for; for this identity's own topics (undefined) every share group is served here.
   */
  deliver(m: Message, now: number, shares?: readonly string[]): number {
    if (m.expiresAt !== undefined && m.expiresAt <= now) return 0;
    const byClient = new Map<string, StoredSubscription[]>();
    const groups = new Map<string, Member[]>();
    for (const s of this.store.sessions.subscriptions()) {
      if (s.filter.startsWith(SHARE_PREFIX)) {
        if (!shareMatches(s.filter, m.topic) || (shares && !shares.includes(s.filter))) continue;
        const members = groups.get(s.filter) ?? [];
        members.push({ clientId: s.clientId, sub: s });
        groups.set(s.filter, members);
        continue;
      }
      const list = byClient.get(s.clientId) ?? [];
      list.push(s);
      byClient.set(s.clientId, list);
    }
    let reached = 0;
    for (const [clientId, subs] of byClient) {
      const plan = planDelivery(m, subs, this.sessionKey(clientId));
      if (plan && this.deliverTo(clientId, m, plan, now)) reached += 1;
    }
    for (const [key, members] of groups) if (this.deliverShared(key, members, m, now)) reached += 1;
    return reached;
  }

  /**
   * One member of a share group gets the message [MQTT-4.8.2]: in turn among the connected
   * sessions, or when none is connected (QoS 1/2) among the persistent ones, queued.
   */
  private deliverShared(key: string, members: Member[], m: Message, now: number): boolean {
    const connected = new Set(this.live().map((l) => l.att.conn.clientId));
    const sorted = [...members].sort((a, b) => (a.clientId < b.clientId ? -1 : 1));
    let pool = sorted.filter((x) => connected.has(x.clientId));
    if (pool.length === 0 && m.qos > 0) {
      pool = sorted.filter((x) => (this.store.sessions.session(x.clientId)?.expiry ?? 0) > 0);
    }
    const chosen = this.rotation.pick(key, pool);
    return chosen !== null && this.deliverTo(chosen.clientId, m, sharedPlan(m, chosen.sub), now);
  }

  /** One message to one session: sent now, or queued (QoS 1/2) for an offline persistent session. */
  private deliverTo(clientId: string, m: Message, plan: DeliveryPlan, now: number): boolean {
    const l = this.socketOf(clientId);
    if (plan.qos === 0) {
      if (!l) return false;
      // A session with QoS 1/2 messages waiting behind a full window reads too slowly: QoS 0 is
      // dropped (and counted) rather than piled into its socket, as Mosquitto does.
      if (!this.nothingStored(clientId) && this.store.queue.queuedCount(clientId) > 0) {
        this.store.queue.countDropped(clientId, 1);
        return false;
      }
      const packet = toPublish(m, plan, now, undefined, l.att.conn.version);
      return packet !== null && this.send(l, packet);
    }
    const session = this.store.sessions.session(clientId);
    if (!session || (!l && session.expiry === 0)) return false;
    if (l && plan.qos === 1 && session.expiry === 0) {
      const sent = this.sendVolatile(clientId, l, session.receive_max, m, plan, now);
      if (sent !== "window-full") return sent === "sent";
    }
    this.storedEmpty.delete(clientId);
    const dropped = this.store.queue.enqueue(clientId, m, plan.qos, plan.retain, plan.subscriptionIds);
    if (dropped) this.dropped(clientId, dropped);
    if (l) this.pump(clientId, l, now);
    return l !== undefined;
  }

  /** QoS 1 to a live connection-bound session, tracked in memory (see the class comment). */
  private sendVolatile(
    clientId: string,
    l: Live,
    receiveMax: number,
    m: Message,
    plan: DeliveryPlan,
    now: number,
  ): "sent" | "dropped" | "window-full" {
    const v = this.volatile.get(clientId) ?? {
      next: 1,
      ids: new Set<number>(),
      msgIds: new Map(),
      sizes: new Map(),
    };
    // [MQTT-4.9.0-2] the window counts stored in-flight messages too; stored ones go first.
    const full = v.ids.size >= receiveMax || volatileBytes(v) >= MAX_INFLIGHT_BYTES;
    if (full || !this.nothingStored(clientId)) return "window-full";
    let id = v.next;
    while (v.ids.has(id)) id = (id % 65535) + 1;
    const packet = toPublish(m, plan, now, id, l.att.conn.version);
    if (!packet || this.write(l, packet) !== "sent") return "dropped"; // expired, too large, or closing
    v.ids.add(id);
    v.sizes.set(id, m.payload.byteLength);
    const msgId = msgIdOn(m);
    if (msgId !== undefined) v.msgIds.set(id, msgId);
    v.next = (id % 65535) + 1;
    this.volatile.set(clientId, v);
    return "sent";
  }

  private nothingStored(clientId: string): boolean {
    if (this.storedEmpty.has(clientId)) return true;
    if (this.store.queue.pendingCount(clientId) > 0) return false;
    this.storedEmpty.add(clientId);
    return true;
  }

  /** Sends queued messages while the window (Receive Maximum, MAX_INFLIGHT_BYTES) allows [MQTT-4.9.0-2]. */
  pump(clientId: string, l: Live, now: number): void {
    const session = this.store.sessions.session(clientId);
    if (!session) return;
    const v = this.volatile.get(clientId);
    const volatileIds = v?.ids;
    const load = this.store.queue.inflightLoad(clientId);
    let room = session.receive_max - load.n - (volatileIds?.size ?? 0);
    let bytes = load.bytes + volatileBytes(v);
    // One row at a time, so that a full window reads no payload.
    while (room > 0 && bytes < MAX_INFLIGHT_BYTES) {
      const row = this.store.queue.nextQueued(clientId, 1)[0];
      if (!row) return;
      const id = this.store.queue.allocateId(clientId, volatileIds);
      const packet = toPublish(rowMessage(row), rowPlan(row), now, id, l.att.conn.version);
      const result = packet ? this.write(l, packet) : "too-large";
      if (result === "failed") return; // resent on the next resume
      if (result === "too-large") {
        this.store.queue.dropQueued(row.seq); // expired, or larger than the client accepts
        continue;
      }
      this.store.queue.markSent(row.seq, id);
      room -= 1;
      bytes += row.payload.byteLength;
    }
  }

  /** On reconnect to a stored session: unacknowledged PUBLISHes again with DUP, PUBRELs again [MQTT-4.4.0-1]. */
  resume(clientId: string, ws: WebSocket, version: 4 | 5, now: number, present = true): void {
    this.volatile.delete(clientId); // a new connection: what the previous one had in memory is over
    this.storedEmpty.delete(clientId);
    const l = this.socketOf(clientId) ?? undefined;
    if (!l || l.ws !== ws) return;
    for (const row of present ? this.store.queue.inflight(clientId) : []) {
      const id = row.message_id ?? 0;
      if (row.state === 2) {
        this.send(l, { type: "pubrel", messageId: id });
        continue;
      }
      const packet = toPublish(rowMessage(row), rowPlan(row), now, id, version, true);
      if (!packet || this.write(l, packet) === "too-large") this.store.queue.dropQueued(row.seq);
    }
    this.pump(clientId, l, now);
  }

  /**
   * PUBACK / PUBREC / PUBCOMP from the client. Answers the push msg_id a PUBACK completed, if
   * the message carried one.
   */
  acked(
    ws: WebSocket,
    conn: ConnState,
    kind: "puback" | "pubrec" | "pubcomp",
    messageId: number,
    now: number,
  ): string | undefined {
    const clientId = conn.clientId;
    const v = this.volatile.get(clientId);
    if (kind === "puback" && v?.ids.delete(messageId)) {
      const msgId = v.msgIds.get(messageId);
      v.msgIds.delete(messageId);
      v.sizes.delete(messageId);
      // An in-memory message: the stored queue only needs a look when something is in it.
      const l = this.socketOf(clientId);
      if (l?.ws === ws && !this.storedEmpty.has(clientId)) this.pump(clientId, l, now);
      return msgId;
    }
    const msgId = kind === "puback" ? this.store.queue.msgIdOf(clientId, messageId) : undefined;
    const known = this.store.queue.ack(clientId, messageId, kind);
    const l = this.socketOf(clientId);
    if (kind === "pubrec" && known && l?.ws === ws) this.send(l, { type: "pubrel", messageId });
    if (l?.ws === ws) this.pump(clientId, l, now);
    return known ? msgId : undefined;
  }

  /**
   * After SUBACK: retained messages per Retain Handling [MQTT-3.3.1-9..11], sent with RETAIN
   * set [MQTT-3.3.1-8]; `existed`: the subscription replaced one of the same filter.
   */
  async sendRetained(
    conn: ConnState,
    subs: StoredSubscription[],
    existed: boolean[],
    now: number,
    retainedFor: (filter: string) => Promise<Message[]>,
  ): Promise<void> {
    const clientId = conn.clientId;
    for (const [i, s] of subs.entries()) {
      if (s.retainHandling === 2 || (s.retainHandling === 1 && existed[i])) continue;
      // No retained messages for a shared subscription [MQTT-4.8.2].
      if (s.filter.startsWith(SHARE_PREFIX)) continue;
      for (const m of await retainedFor(s.filter)) {
        if (!topicMatches(s.filter, m.topic)) continue;
        const plan: DeliveryPlan = {
          qos: Math.min(m.qos, s.qos) as QoS,
          retain: true,
          subscriptionIds: s.subscriptionId !== undefined ? [s.subscriptionId] : [],
        };
        this.deliverTo(clientId, m, plan, now);
      }
    }
  }
}
