import type { PubackPacket, PublishPacket } from "../codec/types";
import { channelOf, mayPublish } from "../topics";
import {
  type ConnState,
  type Ctx,
  type Effect,
  type Message,
  ProtocolViolation,
  RC,
  type Result,
  SERVER,
} from "./state";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

const isUtf8 = (b: Uint8Array) => {
  try {
    utf8.decode(b);
    return true;
  } catch {
    return false;
  }
};

/** The `{"user_id", "focus"}` of a status message, when it is well formed (seed 002). */
export const parseStatus = (payload: Uint8Array): { userId: string; focus: 0 | 1 } | null => {
  try {
    const v = JSON.parse(new TextDecoder().decode(payload)) as { user_id?: unknown; focus?: unknown };
    const userId = typeof v.user_id === "number" ? String(v.user_id) : v.user_id;
    const focus = v.focus === 1 || v.focus === "1" ? 1 : v.focus === 0 || v.focus === "0" ? 0 : null;
    return typeof userId === "string" && focus !== null ? { userId, focus } : null;
  } catch {
    return null;
  }
};

/** Resolves (and records) a topic alias [MQTT-3.3.2-7..12]. */
const resolveTopic = (conn: ConnState, p: PublishPacket): { conn: ConnState; topic: string } => {
  const alias = p.properties?.topicAlias;
  if (alias === undefined) {
    if (p.topic === "") throw new ProtocolViolation(RC.ProtocolError, "empty topic without a topic alias");
    return { conn, topic: p.topic };
  }
  if (conn.version !== 5 || alias === 0 || alias > SERVER.topicAliasMaximum) {
    throw new ProtocolViolation(RC.TopicAliasInvalid, `topic alias ${alias} is out of range`);
  }
  if (p.topic === "") {
    const topic = conn.aliases[String(alias)];
    if (!topic) throw new ProtocolViolation(RC.ProtocolError, `topic alias ${alias} is not set`);
    return { conn, topic };
  }
  return { conn: { ...conn, aliases: { ...conn.aliases, [String(alias)]: p.topic } }, topic: p.topic };
};

const ack = (
  conn: ConnState,
  type: "puback" | "pubrec",
  messageId: number,
  reasonCode: number,
): PubackPacket =>
  conn.version === 5 && reasonCode !== 0 ? { type, messageId, reasonCode } : { type, messageId };

/** PUBLISH from the client [MQTT-3.3]: alias, ACL, QoS handshake, then route. */
export const handlePublish = (conn0: ConnState, p: PublishPacket, ctx: Ctx): Result => {
  const { conn, topic } = resolveTopic(conn0, p);
  const id = p.messageId ?? 0;

  if (p.qos === 2) {
    // [MQTT-4.3.3] a re-sent QoS 2 PUBLISH whose PUBREL has not come: PUBREC again, route nothing.
    if (ctx.hasInboundQos2(id)) return { conn, out: [{ type: "pubrec", messageId: id }], effects: [] };
    // [MQTT-3.3.4-9] more unacknowledged QoS 2 than our Receive Maximum.
    if (ctx.inboundQos2Count() >= SERVER.receiveMaximum) {
      throw new ProtocolViolation(RC.ReceiveMaximumExceeded, "receive maximum exceeded");
    }
  }

  let refused: number | null = null;
  const effects: Effect[] = [];
  const channel = channelOf(ctx.who.app, topic);
  if (!mayPublish(ctx.who, topic, ctx.isMember)) refused = RC.NotAuthorized;
  else if (p.properties?.payloadFormatIndicator && !isUtf8(p.payload)) refused = RC.PayloadFormatInvalid;
  else if (channel.kind === "status") {
    // CONTRACT §3: a client sets only its own foreground state.
    const status = parseStatus(p.payload);
    if (!status || status.userId !== ctx.who.id) refused = RC.NotAuthorized;
    else effects.push({ type: "status", focus: status.focus });
  } else {
    const props = p.properties ?? {};
    const message: Message = {
      topic,
      payload: p.payload,
      qos: p.qos,
      retain: p.retain,
      props: {
        payloadFormatIndicator: props.payloadFormatIndicator,
        contentType: props.contentType,
        responseTopic: props.responseTopic,
        correlationData: props.correlationData,
        userProperties: props.userProperties,
      },
      expiresAt:
        props.messageExpiryInterval !== undefined ? ctx.now + props.messageExpiryInterval * 1000 : undefined,
    };
    effects.push({ type: "publish", message });
  }

  if (p.qos === 0) return { conn, out: [], effects: refused === null ? effects : [] };
  if (refused !== null) {
    // 3.1.1 has no refusal code: the message is acknowledged and dropped, as Mosquitto does.
    return { conn, out: [ack(conn, p.qos === 1 ? "puback" : "pubrec", id, refused)], effects: [] };
  }
  if (p.qos === 1) return { conn, out: [{ type: "puback", messageId: id }], effects };
  return {
    conn,
    out: [{ type: "pubrec", messageId: id }],
    effects: [...effects, { type: "inbound-qos2", messageId: id }],
  };
};

/** PUBREL [MQTT-3.6]: completes an inbound QoS 2 message. */
export const handlePubrel = (conn: ConnState, messageId: number, ctx: Ctx): Result => {
  const known = ctx.hasInboundQos2(messageId);
  const pubcomp: PubackPacket =
    conn.version === 5 && !known
      ? { type: "pubcomp", messageId, reasonCode: RC.PacketIdentifierNotFound }
      : { type: "pubcomp", messageId };
  return { conn, out: [pubcomp], effects: known ? [{ type: "inbound-qos2-release", messageId }] : [] };
};
