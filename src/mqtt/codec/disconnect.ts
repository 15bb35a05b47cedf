import { checkReasonCode, frame, requireFlags } from "./common";
import { decodeProperties, encodeProperties, isEmpty } from "./properties";
import { type Reader, Writer } from "./reader";
import { DISCONNECT_REASON_CODES } from "./reason-codes";
import type { DisconnectPacket, ProtocolVersion } from "./types";

/** Decodes a DISCONNECT body (empty on 3.1.1; optional reason code and properties on 5.0). */
export function decodeDisconnect(flags: number, r: Reader, version: ProtocolVersion): DisconnectPacket {
  requireFlags(flags, 0, "DISCONNECT"); // [MQTT-3.14.1-1]
  const packet: DisconnectPacket = { type: "disconnect" };
  if (version === 5) {
    // Remaining Length 0 means reason 0x00; below 2, no Property Length (3.14.2.1, 3.14.2.2.1)
    packet.reasonCode =
      r.remaining > 0 ? checkReasonCode(r.u8("reason code"), DISCONNECT_REASON_CODES, "DISCONNECT") : 0;
    if (r.remaining > 0) {
      const properties = decodeProperties(r, "disconnect");
      if (properties) packet.properties = properties;
    }
  }
  r.finish("DISCONNECT");
  return packet;
}

/** Encodes a DISCONNECT, on 5.0 in its shortest form. */
export function encodeDisconnect(packet: DisconnectPacket, version: ProtocolVersion): Uint8Array {
  if (version === 4) return frame(14, 0, null);
  const w = new Writer(8);
  const reasonCode = packet.reasonCode ?? 0;
  const bare = isEmpty(packet.properties);
  if (reasonCode !== 0 || !bare) w.u8(reasonCode);
  if (!bare) encodeProperties(w, packet.properties);
  return frame(14, 0, w);
}
