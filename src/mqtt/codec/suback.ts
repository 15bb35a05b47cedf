import { checkMessageId, checkReasonCode, frame, readMessageId, requireFlags } from "./common";
import { protocolError } from "./errors";
import { decodeProperties, encodeProperties } from "./properties";
import { type Reader, Writer } from "./reader";
import { SUBACK_REASON_CODES, SUBACK_RETURN_CODES_V4 } from "./reason-codes";
import type { ProtocolVersion, SubackPacket } from "./types";

/** Decodes a SUBACK body: one return / reason code per topic filter. */
export function decodeSuback(flags: number, r: Reader, version: ProtocolVersion): SubackPacket {
  requireFlags(flags, 0, "SUBACK");
  const packet: SubackPacket = { type: "suback", messageId: readMessageId(r, "SUBACK"), granted: [] };
  if (version === 5) {
    const properties = decodeProperties(r, "suback");
    if (properties) packet.properties = properties;
  }
  const codes = version === 5 ? SUBACK_REASON_CODES : SUBACK_RETURN_CODES_V4;
  while (r.remaining > 0) packet.granted.push(checkReasonCode(r.u8("reason code"), codes, "SUBACK")); // [MQTT-3.9.3-2]
  if (packet.granted.length === 0) throw protocolError("SUBACK: no return code"); // one per topic filter, and SUBSCRIBE has at least one
  return packet;
}

/** Encodes a SUBACK. */
export function encodeSuback(packet: SubackPacket, version: ProtocolVersion): Uint8Array {
  const w = new Writer().u16(checkMessageId(packet.messageId, "SUBACK"));
  if (version === 5) encodeProperties(w, packet.properties);
  for (const code of packet.granted) w.u8(code);
  return frame(9, 0, w);
}
