import type { ConnackPacket, ConnectPacket, Properties } from "../codec/types";
import { channelOf, isValidTopicName, mayPublish } from "../topics";
import { negotiateKeepalive, OPEN_POLICY } from "./keepalive";
import { parseStatus } from "./publish";
import {
  type ConnState,
  type Ctx,
  type Effect,
  RC,
  type Result,
  SERVER,
  v4ConnackCode,
  type WillMessage,
} from "./state";

const refuse = (conn: ConnState, reason: number, text: string): Result => {
  const connack: ConnackPacket =
    conn.version === 5
      ? { type: "connack", sessionPresent: false, reasonCode: reason, properties: { reasonString: text } }
      : { type: "connack", sessionPresent: false, reasonCode: v4ConnackCode(reason) };
  // [MQTT-3.2.2-5] a refused CONNECT gets a CONNACK with a non-zero code, then the close.
  return {
    conn: { ...conn, phase: "closed" },
    out: [connack],
    effects: [],
    close: { code: 1008, reason: text },
  };
};

const willOf = (p: ConnectPacket, now: number): WillMessage | undefined => {
  if (!p.will) return undefined;
  const props = p.will.properties ?? {};
  return {
    topic: p.will.topic,
    payload: p.will.payload,
    qos: p.will.qos,
    retain: p.will.retain,
    props: {
      payloadFormatIndicator: props.payloadFormatIndicator,
      contentType: props.contentType,
      responseTopic: props.responseTopic,
      correlationData: props.correlationData,
      userProperties: props.userProperties,
    },
    expiresAt:
      props.messageExpiryInterval !== undefined ? now + props.messageExpiryInterval * 1000 : undefined,
    delay: props.willDelayInterval ?? 0,
  };
};

/** CONNECT [MQTT-3.1]: validates, opens (or resumes) the session, answers CONNACK. */
export const handleConnect = (conn: ConnState, p: ConnectPacket, ctx: Ctx): Result => {
  const props = p.properties ?? {};
  const ka = negotiateKeepalive(ctx.keepalivePolicy ?? OPEN_POLICY, p.keepalive, p.protocolVersion);
  const base: ConnState = {
    ...conn,
    version: p.protocolVersion,
    keepalive: ka.keepalive,
    // Our in-flight window towards the client: its Receive Maximum (3.1.1: none), capped.
    clientReceiveMaximum: Math.min(props.receiveMaximum ?? 65535, SERVER.maxInflight),
    // [MQTT-3.3.2-17] aliases towards the client only up to its Topic Alias Maximum (5.0 only).
    clientTopicAliasMaximum:
      p.protocolVersion === 5 ? Math.min(props.topicAliasMaximum ?? 0, SERVER.outboundTopicAliases) : 0,
    clientMaximumPacketSize: props.maximumPacketSize ?? 268435455,
    problemInfo: props.requestProblemInformation ?? true,
  };
  // [MQTT-3.1.2-21] Receive Maximum 0 and [MQTT-3.1.2-24] Maximum Packet Size 0 are protocol errors.
  if (props.receiveMaximum === 0 || props.maximumPacketSize === 0) {
    return refuse(base, RC.ProtocolError, "receive maximum and maximum packet size must not be 0");
  }
  if (props.authenticationMethod !== undefined) {
    return refuse(base, RC.BadAuthenticationMethod, "enhanced authentication is not supported");
  }
  // CONTRACT §3: identity comes from the token; a non-empty user name must be that identity.
  if (p.username !== undefined && p.username !== "" && p.username !== ctx.who.id) {
    return refuse(base, RC.BadUserNameOrPassword, "user name does not match the token's subject");
  }

  let clientId = p.clientId;
  let assigned: string | undefined;
  if (clientId === "") {
    // [MQTT-3.1.3-8] 3.1.1: an empty id needs Clean Session; [MQTT-3.1.3-6] then one is assigned.
    if (p.protocolVersion === 4 && !p.clean) {
      return refuse(base, RC.ClientIdentifierNotValid, "an empty client id needs clean session");
    }
    clientId = ctx.newClientId();
    assigned = clientId;
  }
  if (clientId.length > SERVER.maxClientIdLength) {
    return refuse(base, RC.ClientIdentifierNotValid, "client id too long");
  }

  const will = willOf(p, ctx.now);
  if (will && (!isValidTopicName(will.topic) || !mayPublish(ctx.who, will.topic, ctx.isMember))) {
    return refuse(base, RC.NotAuthorized, "the will topic is not allowed for this identity");
  }
  // CONTRACT §3: a will on `<app>/app/status` is a status message, so it may only name this
  // identity (checked now: a will dropped later would fail silently).
  if (
    will &&
    channelOf(ctx.who.app, will.topic).kind === "status" &&
    parseStatus(will.payload)?.userId !== ctx.who.id
  ) {
    return refuse(base, RC.NotAuthorized, "a status will must carry this identity's user_id and a focus");
  }

  // Session expiry: 3.1.1 clean=0 keeps the session (up to our cap); 5.0 uses the property.
  const asked =
    p.protocolVersion === 5 ? (props.sessionExpiryInterval ?? 0) : p.clean ? 0 : SERVER.maxSessionExpiry;
  const expiry = Math.min(asked, SERVER.maxSessionExpiry);
  // [MQTT-3.2.2-1..3] Session Present only when a stored session is resumed.
  const sessionPresent = !p.clean && ctx.hasSession(clientId);

  const properties: Properties | undefined =
    p.protocolVersion === 5
      ? {
          receiveMaximum: SERVER.receiveMaximum,
          topicAliasMaximum: SERVER.topicAliasMaximum,
          maximumPacketSize: SERVER.maximumPacketSize,
          retainAvailable: true,
          wildcardSubscriptionAvailable: true,
          subscriptionIdentifiersAvailable: true,
          sharedSubscriptionAvailable: true,
          ...(ka.serverKeepAlive !== undefined ? { serverKeepAlive: ka.serverKeepAlive } : {}),
          ...(assigned ? { assignedClientIdentifier: assigned } : {}),
          ...(expiry !== asked ? { sessionExpiryInterval: expiry } : {}),
        }
      : undefined;
  const connack: ConnackPacket = { type: "connack", sessionPresent, reasonCode: 0, properties };
  const effects: Effect[] = [{ type: "open-session", clientId, clean: p.clean, expiry, will }];
  return { conn: { ...base, phase: "connected", clientId, aliases: {} }, out: [connack], effects };
};

/**
 * The protocol level the first bytes of a CONNECT announce, or null when they are not the start
 * of a CONNECT naming "MQTT". Lets the hub answer a 5.0 client whose CONNECT failed to decode
 * with a CONNACK carrying the reason (0x81, 0x82, 0x95) before the close [MQTT-4.13.1-1]; a
 * 3.1.1 client is simply disconnected [MQTT-4.8.0-1].
 */
export const announcedLevel = (bytes: Uint8Array): number | null => {
  if (bytes[0] !== 0x10) return null;
  let i = 1;
  while (i < 4 && ((bytes[i] ?? 0) & 0x80) !== 0) i++;
  const at = i + 1; // first byte after the Remaining Length
  const name = String.fromCharCode(...bytes.subarray(at + 2, at + 6));
  if (bytes[at] !== 0 || bytes[at + 1] !== 4 || name !== "MQTT") return null;
  return bytes[at + 6] ?? null;
};
