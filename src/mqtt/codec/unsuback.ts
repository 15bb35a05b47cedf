import { checkMessageId, checkReasonCode, frame, readMessageId, requireFlags } from "./common";
import { protocolError } from "./errors";
import { decodeProperties, encodeProperties } from "./properties";
import { type Reader, Writer } from "./reader";
import { UNSUBACK_REASON_CODES } from "./reason-codes";
import type { ProtocolVersion, UnsubackPacket } from "./types";

/** Decodes an UNSUBACK body; 5.0 adds properties and one reason code per topic filter. */
export function decodeUnsuback(flags: number, r: Reader, version: ProtocolVersion): UnsubackPacket {
  requireFlags(flags, 0, "UNSUBACK");
  const packet: UnsubackPacket = { type: "unsuback", messageId: readMessageId(r, "UNSUBACK") };
  if (version === 5) {
    const properties = decodeProperties(r, "unsuback");
    if (properties) packet.properties = properties;
    packet.granted = [];
    while (r.remaining > 0)
      packet.granted.push(checkReasonCode(r.u8("reason code"), UNSUBACK_REASON_CODES, "UNSUBACK"));
    if (packet.granted.length === 0) throw protocolError("UNSUBACK: no reason code"); // one per topic filter, and UNSUBSCRIBE has at least one
  }
  r.finish("UNSUBACK"); // 3.1.1: Remaining Length is exactly 2
  return packet;
}

/** Encodes an UNSUBACK; `granted` is written on 5.0 only. */
export function encodeUnsuback(packet: UnsubackPacket, version: ProtocolVersion): Uint8Array {
  const w = new Writer().u16(checkMessageId(packet.messageId, "UNSUBACK"));
  if (version === 5) {
    encodeProperties(w, packet.properties);
    for (const code of packet.granted ?? []) w.u8(code);
  }
  return frame(11, 0, w);
}
