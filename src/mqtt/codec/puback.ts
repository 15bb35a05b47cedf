import { checkMessageId, checkReasonCode, frame, readMessageId, requireFlags } from "./common";
import { decodeProperties, encodeProperties, isEmpty } from "./properties";
import { type Reader, Writer } from "./reader";
import { PUBACK_REASON_CODES, PUBREL_REASON_CODES } from "./reason-codes";
import type { ProtocolVersion, PubackPacket } from "./types";

type AckType = PubackPacket["type"];

const SHAPE: Record<AckType, { code: number; flags: number; reasons: ReadonlySet<number> }> = {
  puback: { code: 4, flags: 0, reasons: PUBACK_REASON_CODES },
  pubrec: { code: 5, flags: 0, reasons: PUBACK_REASON_CODES },
  pubrel: { code: 6, flags: 0b0010, reasons: PUBREL_REASON_CODES },
  pubcomp: { code: 7, flags: 0, reasons: PUBREL_REASON_CODES },
};

function decodeAck(type: AckType, flags: number, r: Reader, version: ProtocolVersion): PubackPacket {
  const name = type.toUpperCase();
  const shape = SHAPE[type];
  requireFlags(flags, shape.flags, name); // PUBREL: 0b0010 [MQTT-3.6.1-1]
  const packet: PubackPacket = { type, messageId: readMessageId(r, name) };
  if (version === 4) {
    r.finish(name); // Remaining Length is exactly 2 in 3.1.1
    return packet;
  }
  // 5.0: the Reason Code may be omitted (Remaining Length 2, meaning 0x00), and the Property
  // Length too when the Remaining Length is less than 4 (3.4.2.1, 3.4.2.2.1).
  packet.reasonCode = r.remaining > 0 ? checkReasonCode(r.u8("reason code"), shape.reasons, name) : 0;
  if (r.remaining > 0) {
    const properties = decodeProperties(r, type);
    if (properties) packet.properties = properties;
  }
  r.finish(name);
  return packet;
}

/** Decodes a PUBACK body. */
export const decodePuback = (flags: number, r: Reader, version: ProtocolVersion) =>
  decodeAck("puback", flags, r, version);
/** Decodes a PUBREC body. */
export const decodePubrec = (flags: number, r: Reader, version: ProtocolVersion) =>
  decodeAck("pubrec", flags, r, version);
/** Decodes a PUBREL body (fixed header flags 0b0010). */
export const decodePubrel = (flags: number, r: Reader, version: ProtocolVersion) =>
  decodeAck("pubrel", flags, r, version);
/** Decodes a PUBCOMP body. */
export const decodePubcomp = (flags: number, r: Reader, version: ProtocolVersion) =>
  decodeAck("pubcomp", flags, r, version);

/**
 * Encodes a PUBACK, PUBREC, PUBREL or PUBCOMP (by `packet.type`), in 5.0 with the shortest form:
 * no Reason Code when it is 0 and there are no properties, no Property Length when empty.
 */
export function encodePuback(packet: PubackPacket, version: ProtocolVersion): Uint8Array {
  const shape = SHAPE[packet.type];
  const w = new Writer(8).u16(checkMessageId(packet.messageId, packet.type.toUpperCase()));
  if (version === 5) {
    const reasonCode = packet.reasonCode ?? 0;
    const bare = isEmpty(packet.properties);
    if (reasonCode !== 0 || !bare) w.u8(reasonCode);
    if (!bare) encodeProperties(w, packet.properties);
  }
  return frame(shape.code, shape.flags, w);
}
