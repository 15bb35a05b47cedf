import { checkReasonCode, frame, requireFlags } from "./common";
import { malformed } from "./errors";
import { decodeProperties, encodeProperties } from "./properties";
import { type Reader, Writer } from "./reader";
import { CONNACK_REASON_CODES, CONNACK_RETURN_CODES_V4 } from "./reason-codes";
import type { ConnackPacket, ProtocolVersion } from "./types";

/** Decodes a CONNACK body. */
export function decodeConnack(flags: number, r: Reader, version: ProtocolVersion): ConnackPacket {
  requireFlags(flags, 0, "CONNACK");
  const ackFlags = r.u8("connect acknowledge flags");
  if (ackFlags & 0xfe) throw malformed("CONNACK: reserved acknowledge flags are not 0"); // [MQTT-3.2.2-1] (3.1.1: 3.2.2.1)
  const codes = version === 5 ? CONNACK_REASON_CODES : CONNACK_RETURN_CODES_V4;
  const packet: ConnackPacket = {
    type: "connack",
    sessionPresent: ackFlags === 1,
    reasonCode: checkReasonCode(r.u8("connect reason code"), codes, "CONNACK"),
  };
  if (version === 5) {
    const properties = decodeProperties(r, "connack");
    if (properties) packet.properties = properties;
  }
  r.finish("CONNACK");
  return packet;
}

/** Encodes a CONNACK. */
export function encodeConnack(packet: ConnackPacket, version: ProtocolVersion): Uint8Array {
  const w = new Writer().u8(packet.sessionPresent ? 1 : 0).u8(packet.reasonCode);
  if (version === 5) encodeProperties(w, packet.properties);
  return frame(2, 0, w);
}
