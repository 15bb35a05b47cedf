import { encode } from "../mqtt/codec";
import type { Packet, QoS } from "../mqtt/codec/types";
import { type DeliveryPlan, planDelivery, toPublish } from "../mqtt/deliver";
import type { ConnState, Message, MessageProps, StoredSubscription } from "../mqtt/session";
import { topicMatches } from "../mqtt/topics";
import { fromJson } from "./common";
import type { UserStore } from "./user-store";
import type { QueuedRow } from "./user-store-queue";

type Live = { ws: WebSocket; att: { conn: ConnState } };

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
 * Outbound delivery of one UserHub: matching, QoS 0 sends, the QoS 1/2 queue with the client's
 * Receive Maximum as in-flight window, acknowledgements, and resending on session resume.
 */
export class Delivery {
  constructor(
    private readonly store: UserStore,
    private readonly live: () => Live[],
    /** The No Local key of a session (see Message.from). */
    private readonly sessionKey: (clientId: string) => string,
  ) {}

  private socketOf(clientId: string): Live | undefined {
    return this.live().find((l) => l.att.conn.clientId === clientId);
  }

  /**
   * Writes a packet: "too-large" when the client's Maximum Packet Size refuses it (the message
   * is never sent to it), "failed" when the socket is closing (a QoS 1/2 message stays queued).
   */
  private write(l: Live, packet: Packet): "sent" | "too-large" | "failed" {
    const bytes = encode(packet, l.att.conn.version);
    if (!encodedFits(l.att.conn, bytes)) return "too-large";
    try {
      l.ws.send(bytes);
      return "sent";
    } catch {
      return "failed";
    }
  }

  private send(l: Live, packet: Packet): boolean {
    return this.write(l, packet) === "sent";
  }

  /** Delivers to every session with a matching subscription; answers the connections reached. */
  deliver(m: Message, now: number): number {
    if (m.expiresAt !== undefined && m.expiresAt <= now) return 0;
    const byClient = new Map<string, StoredSubscription[]>();
    for (const s of this.store.sessions.subscriptions()) {
      const list = byClient.get(s.clientId) ?? [];
      list.push(s);
      byClient.set(s.clientId, list);
    }
    let reached = 0;
    for (const [clientId, subs] of byClient) {
      const plan = planDelivery(m, subs, this.sessionKey(clientId));
      if (plan && this.deliverTo(clientId, m, plan, now)) reached += 1;
    }
    return reached;
  }

  /** One message to one session: sent now, or queued (QoS 1/2) for an offline persistent session. */
  private deliverTo(clientId: string, m: Message, plan: DeliveryPlan, now: number): boolean {
    const l = this.socketOf(clientId);
    if (plan.qos === 0) {
      if (!l) return false;
      const packet = toPublish(m, plan, now, undefined, l.att.conn.version);
      return packet !== null && this.send(l, packet);
    }
    const session = this.store.sessions.session(clientId);
    if (!session || (!l && session.expiry === 0)) return false;
    this.store.queue.enqueue(clientId, m, plan.qos, plan.retain, plan.subscriptionIds);
    if (l) this.pump(clientId, l, now);
    return l !== undefined;
  }

  /** Sends queued messages while the client's Receive Maximum allows [MQTT-4.9.0-2]. */
  pump(clientId: string, l: Live, now: number): void {
    const session = this.store.sessions.session(clientId);
    if (!session) return;
    const room = session.receive_max - this.store.queue.inflight(clientId).length;
    if (room <= 0) return;
    for (const row of this.store.queue.nextQueued(clientId, room)) {
      const id = this.store.queue.allocateId(clientId);
      const packet = toPublish(rowMessage(row), rowPlan(row), now, id, l.att.conn.version);
      const result = packet ? this.write(l, packet) : "too-large";
      if (result === "failed") return; // resent on the next resume
      if (result === "too-large") {
        this.store.queue.dropQueued(row.seq); // expired, or larger than the client accepts
        continue;
      }
      this.store.queue.markSent(row.seq, id);
    }
  }

  /** On reconnect to a stored session: unacknowledged PUBLISHes again with DUP, PUBRELs again [MQTT-4.4.0-1]. */
  resume(clientId: string, ws: WebSocket, version: 4 | 5, now: number): void {
    const l = this.socketOf(clientId) ?? undefined;
    if (!l || l.ws !== ws) return;
    for (const row of this.store.queue.inflight(clientId)) {
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

  /** PUBACK / PUBREC / PUBCOMP from the client. */
  acked(
    ws: WebSocket,
    conn: ConnState,
    kind: "puback" | "pubrec" | "pubcomp",
    messageId: number,
    now: number,
  ): void {
    const clientId = conn.clientId;
    const known = this.store.queue.ack(clientId, messageId, kind);
    const l = this.socketOf(clientId);
    if (kind === "pubrec" && known && l?.ws === ws) this.send(l, { type: "pubrel", messageId });
    if (l?.ws === ws) this.pump(clientId, l, now);
  }

  /**
   * After SUBACK: retained messages per Retain Handling [MQTT-3.3.1-9..11], sent with RETAIN
   * set [MQTT-3.3.1-8].
   */
  async subscribed(
    conn: ConnState,
    subs: StoredSubscription[],
    now: number,
    retainedFor: (filter: string) => Promise<Message[]>,
  ): Promise<void> {
    const clientId = conn.clientId;
    for (const s of subs) {
      const existed = this.store.sessions.subscribe(clientId, s);
      if (s.retainHandling === 2 || (s.retainHandling === 1 && existed)) continue;
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
