import { checkReasonCode, frame, requireFlags } from "./common";
import { malformed } from "./errors";
import { decodeProperties, encodeProperties } from "./properties";
import { type Reader, Writer } from "./reader";
import { AUTH_REASON_CODES } from "./reason-codes";
import type { AuthPacket, ProtocolVersion } from "./types";

/** Decodes an AUTH body (5.0 only; packet type 15 is reserved in 3.1.1). */
export function decodeAuth(flags: number, r: Reader, version: ProtocolVersion): AuthPacket {
  if (version !== 5) throw malformed("AUTH is not a MQTT 3.1.1 packet"); // 3.1.1 2.2.1: type 15 is reserved
  requireFlags(flags, 0, "AUTH"); // [MQTT-3.15.1-1]
  // Remaining Length 0 means reason 0x00 Success and no properties (3.15.2.1)
  const packet: AuthPacket = {
    type: "auth",
    reasonCode: r.remaining > 0 ? checkReasonCode(r.u8("reason code"), AUTH_REASON_CODES, "AUTH") : 0,
  };
  if (r.remaining > 0) {
    const properties = decodeProperties(r, "auth");
    if (properties) packet.properties = properties;
  }
  r.finish("AUTH");
  return packet;
}

/** Encodes an AUTH, always with its Reason Code and Property Length. */
export function encodeAuth(packet: AuthPacket, version: ProtocolVersion): Uint8Array {
  if (version !== 5) throw new RangeError("AUTH exists only in MQTT 5.0");
  const w = new Writer().u8(packet.reasonCode);
  encodeProperties(w, packet.properties);
  return frame(15, 0, w);
}
