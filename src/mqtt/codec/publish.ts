import { checkMessageId, frame, readMessageId } from "./common";
import { malformed, protocolError } from "./errors";
import { decodeProperties, encodeProperties } from "./properties";
import { type Reader, Writer } from "./reader";
import type { ProtocolVersion, PublishPacket, QoS } from "./types";

/** Decodes a PUBLISH body; the fixed header flags carry DUP, QoS and RETAIN. */
export function decodePublish(flags: number, r: Reader, version: ProtocolVersion): PublishPacket {
  const qos = (flags >> 1) & 3;
  if (qos === 3) throw malformed("PUBLISH: QoS 3"); // [MQTT-3.3.1-4]
  const dup = (flags & 0x08) !== 0;
  if (dup && qos === 0) throw malformed("PUBLISH: DUP set on a QoS 0 message"); // [MQTT-3.3.1-2]
  const topic = r.utf8("topic name");
  if (topic.includes("+") || topic.includes("#")) throw malformed("PUBLISH: wildcard in topic name"); // [MQTT-3.3.2-2]
  const packet: PublishPacket = {
    type: "publish",
    topic,
    payload: new Uint8Array(),
    qos: qos as QoS,
    retain: (flags & 1) !== 0,
    dup,
  };
  if (qos > 0) packet.messageId = readMessageId(r, "PUBLISH"); // 3.3.2.2: present exactly when QoS > 0 [MQTT-2.2.1-2]
  if (version === 5) {
    const properties = decodeProperties(r, "publish");
    if (properties) packet.properties = properties;
  }
  if (topic.length === 0 && packet.properties?.topicAlias === undefined) {
    // 3.1.1: [MQTT-4.7.3-1]; 5.0: a zero length Topic Name needs a Topic Alias (3.3.2.1)
    throw protocolError("PUBLISH: empty topic name");
  }
  packet.payload = r.rest();
  return packet;
}

/** Encodes a PUBLISH. */
export function encodePublish(packet: PublishPacket, version: ProtocolVersion): Uint8Array {
  const w = new Writer(packet.topic.length + packet.payload.length + 16).utf8(packet.topic);
  if (packet.qos > 0) w.u16(checkMessageId(packet.messageId, "PUBLISH"));
  if (version === 5) encodeProperties(w, packet.properties);
  w.bytes(packet.payload);
  const flags = (packet.dup ? 0x08 : 0) | (packet.qos << 1) | (packet.retain ? 1 : 0);
  return frame(3, flags, w);
}
