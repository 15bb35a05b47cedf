import { checkMessageId, frame, readMessageId, requireFlags } from "./common";
import { protocolError } from "./errors";
import { decodeProperties, encodeProperties } from "./properties";
import { type Reader, Writer } from "./reader";
import type { ProtocolVersion, UnsubscribePacket } from "./types";

/** Decodes an UNSUBSCRIBE body (fixed header flags 0b0010). */
export function decodeUnsubscribe(flags: number, r: Reader, version: ProtocolVersion): UnsubscribePacket {
  requireFlags(flags, 0b0010, "UNSUBSCRIBE"); // [MQTT-3.10.1-1]
  const packet: UnsubscribePacket = {
    type: "unsubscribe",
    messageId: readMessageId(r, "UNSUBSCRIBE"),
    unsubscriptions: [],
  };
  if (version === 5) {
    const properties = decodeProperties(r, "unsubscribe");
    if (properties) packet.properties = properties;
  }
  while (r.remaining > 0) packet.unsubscriptions.push(r.utf8("topic filter"));
  if (packet.unsubscriptions.length === 0) throw protocolError("UNSUBSCRIBE: no topic filter"); // [MQTT-3.10.3-2]
  return packet;
}

/** Encodes an UNSUBSCRIBE. */
export function encodeUnsubscribe(packet: UnsubscribePacket, version: ProtocolVersion): Uint8Array {
  if (packet.unsubscriptions.length === 0) throw new RangeError("UNSUBSCRIBE: no topic filter"); // [MQTT-3.10.3-2]
  const w = new Writer().u16(checkMessageId(packet.messageId, "UNSUBSCRIBE"));
  if (version === 5) encodeProperties(w, packet.properties);
  for (const topic of packet.unsubscriptions) w.utf8(topic);
  return frame(10, 0b0010, w);
}
