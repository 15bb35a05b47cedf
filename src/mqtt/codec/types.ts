/** MQTT protocol level: 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
export type ProtocolVersion = 4 | 5;

/** Quality of service. */
export type QoS = 0 | 1 | 2;

/** A User Property (name, value); order and repeats are kept. */
export type UserProperty = [name: string, value: string];

/**
 * MQTT 5.0 properties (section 2.2.2.2), by name. Byte properties whose only values are 0 and 1
 * are booleans; Maximum QoS stays a number.
 */
export interface Properties {
  /** 0x01 Byte */
  payloadFormatIndicator?: boolean;
  /** 0x02 Four Byte Integer */
  messageExpiryInterval?: number;
  /** 0x03 UTF-8 string */
  contentType?: string;
  /** 0x08 UTF-8 string */
  responseTopic?: string;
  /** 0x09 Binary Data */
  correlationData?: Uint8Array;
  /** 0x0B Variable Byte Integer; repeatable in PUBLISH, at most one in SUBSCRIBE */
  subscriptionIdentifiers?: number[];
  /** 0x11 Four Byte Integer */
  sessionExpiryInterval?: number;
  /** 0x12 UTF-8 string */
  assignedClientIdentifier?: string;
  /** 0x13 Two Byte Integer */
  serverKeepAlive?: number;
  /** 0x15 UTF-8 string */
  authenticationMethod?: string;
  /** 0x16 Binary Data */
  authenticationData?: Uint8Array;
  /** 0x17 Byte */
  requestProblemInformation?: boolean;
  /** 0x18 Four Byte Integer */
  willDelayInterval?: number;
  /** 0x19 Byte */
  requestResponseInformation?: boolean;
  /** 0x1A UTF-8 string */
  responseInformation?: string;
  /** 0x1C UTF-8 string */
  serverReference?: string;
  /** 0x1F UTF-8 string */
  reasonString?: string;
  /** 0x21 Two Byte Integer */
  receiveMaximum?: number;
  /** 0x22 Two Byte Integer */
  topicAliasMaximum?: number;
  /** 0x23 Two Byte Integer */
  topicAlias?: number;
  /** 0x24 Byte (0 or 1) */
  maximumQoS?: 0 | 1;
  /** 0x25 Byte */
  retainAvailable?: boolean;
  /** 0x26 UTF-8 String Pair, repeatable */
  userProperties?: UserProperty[];
  /** 0x27 Four Byte Integer */
  maximumPacketSize?: number;
  /** 0x28 Byte */
  wildcardSubscriptionAvailable?: boolean;
  /** 0x29 Byte */
  subscriptionIdentifiersAvailable?: boolean;
  /** 0x2A Byte */
  sharedSubscriptionAvailable?: boolean;
}

/** The Will Message of a CONNECT. */
export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
}

/** CONNECT (1). `clean` is Clean Session (3.1.1) / Clean Start (5.0). */
export interface ConnectPacket {
  type: "connect";
  protocolVersion: ProtocolVersion;
  clientId: string;
  clean: boolean;
  keepalive: number;
  username?: string;
  password?: Uint8Array;
  will?: Will;
  properties?: Properties;
}

/** CONNACK (2). `reasonCode` is the 3.1.1 return code or the 5.0 reason code. */
export interface ConnackPacket {
  type: "connack";
  sessionPresent: boolean;
  reasonCode: number;
  properties?: Properties;
}

/** PUBLISH (3). `messageId` is present exactly when qos > 0. */
export interface PublishPacket {
  type: "publish";
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  messageId?: number;
  properties?: Properties;
}

/** PUBACK (4), PUBREC (5), PUBREL (6), PUBCOMP (7). `reasonCode` is 5.0 only (0 when omitted). */
export interface PubackPacket {
  type: "puback" | "pubrec" | "pubrel" | "pubcomp";
  messageId: number;
  reasonCode?: number;
  properties?: Properties;
}

/** One topic filter of a SUBSCRIBE; the three options are 5.0 only. */
export interface Subscription {
  topic: string;
  qos: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
}

/** SUBSCRIBE (8). */
export interface SubscribePacket {
  type: "subscribe";
  messageId: number;
  subscriptions: Subscription[];
  properties?: Properties;
}

/** SUBACK (9): one return / reason code per subscription. */
export interface SubackPacket {
  type: "suback";
  messageId: number;
  granted: number[];
  properties?: Properties;
}

/** UNSUBSCRIBE (10). */
export interface UnsubscribePacket {
  type: "unsubscribe";
  messageId: number;
  unsubscriptions: string[];
  properties?: Properties;
}

/** UNSUBACK (11). `granted` (one reason code per topic filter) is 5.0 only. */
export interface UnsubackPacket {
  type: "unsuback";
  messageId: number;
  granted?: number[];
  properties?: Properties;
}

/** PINGREQ (12) and PINGRESP (13). */
export interface PingPacket {
  type: "pingreq" | "pingresp";
}

/** DISCONNECT (14). `reasonCode` is 5.0 only (0 when omitted). */
export interface DisconnectPacket {
  type: "disconnect";
  reasonCode?: number;
  properties?: Properties;
}

/** AUTH (15), 5.0 only. */
export interface AuthPacket {
  type: "auth";
  reasonCode: number;
  properties?: Properties;
}

/** Any MQTT control packet. */
export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingPacket
  | DisconnectPacket
  | AuthPacket;

/** The `type` of a packet. */
export type PacketType = Packet["type"];

/** Control packet type numbers (fixed header bits 7-4). */
export const PACKET_TYPE_CODE: Record<PacketType, number> = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  suback: 9,
  unsubscribe: 10,
  unsuback: 11,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
  auth: 15,
};
