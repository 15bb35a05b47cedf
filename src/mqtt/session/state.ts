import type { Packet, Properties, ProtocolVersion, QoS } from "../codec/types";
import type { Identity } from "../topics";
import type { KeepalivePolicy } from "./keepalive";

/** What the broker offers every client (sent in the MQTT 5 CONNACK). */
export const SERVER = {
  /** QoS 1/2 PUBLISHes a client may have unacknowledged towards us [MQTT-3.3.4-9]. */
  receiveMaximum: 64,
  /** Topic aliases a client may use towards us. */
  topicAliasMaximum: 16,
  /** Largest packet we accept (a Durable Object WebSocket message is at most 1 MiB). */
  maximumPacketSize: 256 * 1024,
  /** Session expiry cap: sessions of silent clients are dropped after 30 days. */
  maxSessionExpiry: 30 * 24 * 3600,
  /** Topic aliases we use towards a client at most (fewer when its Topic Alias Maximum says so). */
  outboundTopicAliases: 16,
  /** Longest client identifier we accept. */
  maxClientIdLength: 128,
  /**
   * QoS 1/2 PUBLISHes we have unacknowledged towards one session at most: the client's Receive
   * Maximum, capped (3.1.1 has no Receive Maximum: without the cap its window is 65,535). More
   * wait in the session's stored queue.
   */
  maxInflight: 100,
  /** Subscriptions (distinct filters) one session may hold; more: SUBACK 0x97 (3.1.1: 0x80). */
  maxSubscriptions: 100,
  /** PUBLISHes per second per connection (AWS IoT's figure), and at once; more: DISCONNECT 0x96. */
  publishRate: { perSecond: 100, burst: 200 },
  /** SUBSCRIBE and UNSUBSCRIBE packets per second per connection, and at once; more: DISCONNECT 0x96. */
  subscribeRate: { perSecond: 10, burst: 50 },
} as const;

/** Properties carried from a PUBLISH to its subscribers [MQTT-3.3.2-14..20]. */
export type MessageProps = Pick<
  Properties,
  "payloadFormatIndicator" | "contentType" | "responseTopic" | "correlationData" | "userProperties"
>;

/** An application message on its way through the broker. */
export interface Message {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  props?: MessageProps;
  /** Absolute expiry (ms), from the Message Expiry Interval. */
  expiresAt?: number;
  /** `<identity>/<client id>` of the publishing session, for No Local. */
  from?: string;
  /** A platform push: each recipient's hub stamps its own msg_id (src/push/msg-id.ts). */
  push?: { taskId: string; embed: boolean };
}

/** A subscription as a session stores it. */
export interface StoredSubscription {
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId?: number;
}

/** The Will of a connection, kept until it is published or discarded. */
export interface WillMessage extends Message {
  /** Will Delay Interval in seconds (MQTT 5). */
  delay: number;
}

/** Per-connection protocol state: small and serialisable (it lives in the WebSocket attachment). */
export interface ConnState {
  v: 1;
  phase: "awaiting-connect" | "connected" | "closed";
  version: ProtocolVersion;
  clientId: string;
  keepalive: number;
  /** The client's limits towards us (MQTT 5 CONNECT properties). */
  clientReceiveMaximum: number;
  clientMaximumPacketSize: number;
  /** Topic aliases we may use towards the client (its Topic Alias Maximum, capped; 0: none). */
  clientTopicAliasMaximum: number;
  /** Whether the client asked for reason strings (Request Problem Information). */
  problemInfo: boolean;
  /** Inbound topic aliases (alias → topic) [MQTT-3.3.2-12]. */
  aliases: Record<string, string>;
  /** The rate limits' state (see limits.ts): when the PUBLISH and SUBSCRIBE buckets are full again (ms). */
  pubTat?: number;
  subTat?: number;
}

export const newConnState = (): ConnState => ({
  v: 1,
  phase: "awaiting-connect",
  version: 4,
  clientId: "",
  keepalive: 0,
  clientReceiveMaximum: 65535,
  clientMaximumPacketSize: 268435455,
  clientTopicAliasMaximum: 0,
  problemInfo: true,
  aliases: {},
});

/** Synchronous lookups into the hub's stored state, so the core stays pure. */
export interface Ctx {
  now: number;
  who: Identity;
  /** The connection's keepalive policy (app settings and the token's device class). */
  keepalivePolicy?: KeepalivePolicy;
  isMember(groupId: string): boolean;
  /** Whether a stored session exists for the client id (for Session Present). */
  hasSession(clientId: string): boolean;
  /** Whether an inbound QoS 2 message with this id awaits its PUBREL. */
  hasInboundQos2(messageId: number): boolean;
  /** How many inbound QoS 2 messages await their PUBREL. */
  inboundQos2Count(): number;
  /** A fresh client identifier for an empty one [MQTT-3.1.3-6]. */
  newClientId(): string;
  /** Whether the session holds this exact filter (UNSUBACK 0x11); unknown means yes. */
  hasSubscription?(filter: string): boolean;
  /** How many subscriptions (distinct filters) the session holds. */
  subscriptionCount(): number;
}

/** What the hub must do after a packet. */
export type Effect =
  | {
      type: "open-session";
      clientId: string;
      clean: boolean;
      /** Session Expiry Interval in seconds (0: ends with the connection). */
      expiry: number;
      will?: WillMessage;
    }
  | { type: "publish"; message: Message }
  | { type: "status"; focus: 0 | 1 }
  | { type: "subscribe"; subscriptions: StoredSubscription[] }
  | { type: "unsubscribe"; filters: string[] }
  | { type: "inbound-qos2"; messageId: number }
  | { type: "inbound-qos2-release"; messageId: number }
  | { type: "acked"; kind: "puback" | "pubrec" | "pubcomp"; messageId: number }
  | { type: "disconnect"; sendWill: boolean; expiry?: number };

export interface Result {
  conn: ConnState;
  out: Packet[];
  effects: Effect[];
  /** Close the socket after writing `out` (code: the WebSocket close code). */
  close?: { code: number; reason: string };
}

/** A violation that ends the connection; `reason` is the MQTT 5 reason code. */
export class ProtocolViolation extends Error {
  constructor(
    readonly reason: number,
    message: string,
  ) {
    super(message);
    this.name = "ProtocolViolation";
  }
}

/** MQTT 5 reason codes used by the broker. */
export const RC = {
  Success: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWill: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerBusy: 0x89,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  QuotaExceeded: 0x97,
  MessageRateTooHigh: 0x96,
  PayloadFormatInvalid: 0x99,
  SharedSubscriptionsNotSupported: 0x9e,
  SubscriptionIdentifiersNotSupported: 0xa1,
} as const;

/** MQTT 3.1.1 CONNACK return codes for the 5.0 reasons that can refuse a CONNECT [MQTT-3.2.2-4..6]. */
export const v4ConnackCode = (reason: number): number => {
  switch (reason) {
    case RC.Success:
      return 0x00;
    case RC.UnsupportedProtocolVersion:
      return 0x01;
    case RC.ClientIdentifierNotValid:
      return 0x02;
    case RC.ServerBusy:
      return 0x03;
    case RC.BadUserNameOrPassword:
    case RC.BadAuthenticationMethod:
      return 0x04;
    case RC.NotAuthorized:
      return 0x05;
    default:
      return 0x03;
  }
};
