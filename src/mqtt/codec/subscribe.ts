import { checkMessageId, frame, readMessageId, requireFlags } from "./common";
import { malformed, protocolError } from "./errors";
import { decodeProperties, encodeProperties } from "./properties";
import { type Reader, Writer } from "./reader";
import type { ProtocolVersion, QoS, SubscribePacket, Subscription } from "./types";

function decodeOptions(topic: string, options: number, version: ProtocolVersion): Subscription {
  if (version === 4 && options & 0xfc) throw malformed("SUBSCRIBE: reserved option bits are not 0"); // [MQTT-3-8.3-4]
  if (version === 5 && options & 0xc0) throw malformed("SUBSCRIBE: reserved option bits are not 0"); // [MQTT-3.8.3-5]
  const qos = options & 3;
  if (qos === 3 && version === 4) throw malformed("SUBSCRIBE: QoS 3"); // [MQTT-3-8.3-4]
  if (qos === 3) throw protocolError("SUBSCRIBE: Maximum QoS 3"); // 5.0 3.8.3.1: Protocol Error
  const subscription: Subscription = { topic, qos: qos as QoS };
  if (version === 4) return subscription;
  const retainHandling = (options >> 4) & 3;
  if (retainHandling === 3) throw protocolError("SUBSCRIBE: Retain Handling 3"); // 3.8.3.1: Protocol Error
  subscription.noLocal = (options & 0x04) !== 0;
  if (subscription.noLocal && topic.startsWith("$share/")) {
    throw protocolError("SUBSCRIBE: No Local on a shared subscription"); // [MQTT-3.8.3-4]
  }
  subscription.retainAsPublished = (options & 0x08) !== 0;
  subscription.retainHandling = retainHandling as 0 | 1 | 2;
  return subscription;
}

/** Decodes a SUBSCRIBE body (fixed header flags 0b0010). */
export function decodeSubscribe(flags: number, r: Reader, version: ProtocolVersion): SubscribePacket {
  requireFlags(flags, 0b0010, "SUBSCRIBE"); // [MQTT-3.8.1-1]
  const packet: SubscribePacket = {
    type: "subscribe",
    messageId: readMessageId(r, "SUBSCRIBE"),
    subscriptions: [],
  };
  if (version === 5) {
    const properties = decodeProperties(r, "subscribe");
    if (properties) packet.properties = properties;
  }
  while (r.remaining > 0) {
    const topic = r.utf8("topic filter");
    packet.subscriptions.push(decodeOptions(topic, r.u8("subscription options"), version));
  }
  if (packet.subscriptions.length === 0) {
    throw protocolError("SUBSCRIBE: no topic filter"); // [MQTT-3.8.3-3] (5.0: [MQTT-3.8.3-2])
  }
  return packet;
}

/** Encodes a SUBSCRIBE; the 5.0 subscription options are dropped on 3.1.1. */
export function encodeSubscribe(packet: SubscribePacket, version: ProtocolVersion): Uint8Array {
  if (packet.subscriptions.length === 0) throw new RangeError("SUBSCRIBE: no topic filter"); // [MQTT-3.8.3-3]
  const w = new Writer().u16(checkMessageId(packet.messageId, "SUBSCRIBE"));
  if (version === 5) encodeProperties(w, packet.properties);
  for (const s of packet.subscriptions) {
    let options: number = s.qos;
    if (version === 5) {
      options |= (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | ((s.retainHandling ?? 0) << 4);
    }
    w.utf8(s.topic).u8(options);
  }
  return frame(8, 0b0010, w);
}
