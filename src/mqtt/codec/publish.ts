import { checkMessageId, frame, readMessageId, varintSize } from "./common";
import { malformed, protocolError } from "./errors";
import { decodeProperties, encodeProperties } from "./properties";
import { type Reader, VARINT_MAX, Writer } from "./reader";
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

const utf8 = new TextEncoder();

/**
 * PUBLISH without properties, the broker's hot path (fan-out): sizes known up front, one
 * allocation, no intermediate body buffer. Byte-identical to the general encoder.
 */
function encodePlainPublish(packet: PublishPacket, version: ProtocolVersion): Uint8Array | null {
  if (packet.topic.includes("\u0000")) return null; // let the general encoder refuse it
  const topic = utf8.encode(packet.topic);
  if (topic.length > 0xffff) return null;
  const id = packet.qos > 0 ? checkMessageId(packet.messageId, "PUBLISH") : 0;
  const remaining =
    2 + topic.length + (packet.qos > 0 ? 2 : 0) + (version === 5 ? 1 : 0) + packet.payload.length;
  if (remaining > VARINT_MAX) return null;
  const out = slabAlloc(1 + varintSize(remaining) + remaining);
  let i = 0;
  out[i++] = 0x30 | (packet.dup ? 0x08 : 0) | (packet.qos << 1) | (packet.retain ? 1 : 0);
  let rest = remaining;
  do {
    const byte = rest % 128;
    rest = Math.floor(rest / 128);
    out[i++] = rest > 0 ? byte | 0x80 : byte;
  } while (rest > 0);
  out[i++] = topic.length >>> 8;
  out[i++] = topic.length & 0xff;
  out.set(topic, i);
  i += topic.length;
  if (packet.qos > 0) {
    out[i++] = id >>> 8;
    out[i++] = id & 0xff;
  }
  if (version === 5) out[i++] = 0; // property length 0
  out.set(packet.payload, i);
  return out;
}

/**
 * Small packets are cut from a shared 64 KiB slab, as Node's Buffer pool does: a new
 * ArrayBuffer per packet (its backing store and the GC's bookkeeping of it) cost more than
 * encoding it. A packet keeps its slab alive until the packet itself is collected.
 */
const SLAB_SIZE = 64 * 1024;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabUsed = 0;
const slabAlloc = (size: number): Uint8Array => {
  if (size > SLAB_SIZE / 8) return new Uint8Array(size);
  if (slabUsed + size > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabUsed = 0;
  }
  const view = new Uint8Array(slab, slabUsed, size);
  slabUsed += (size + 7) & ~7; // 8-byte aligned, as Node's pool
  return view;
};

/** Encodes a PUBLISH. */
export function encodePublish(packet: PublishPacket, version: ProtocolVersion): Uint8Array {
  const hasProperties = version === 5 && packet.properties && Object.keys(packet.properties).length > 0;
  const plain = hasProperties ? null : encodePlainPublish(packet, version);
  if (plain) return plain;
  const w = new Writer(packet.topic.length + packet.payload.length + 16).utf8(packet.topic);
  if (packet.qos > 0) w.u16(checkMessageId(packet.messageId, "PUBLISH"));
  if (version === 5) encodeProperties(w, packet.properties);
  w.bytes(packet.payload);
  const flags = (packet.dup ? 0x08 : 0) | (packet.qos << 1) | (packet.retain ? 1 : 0);
  return frame(3, flags, w);
}
