import { frame, requireFlags } from "./common";
import type { Reader } from "./reader";
import type { PingPacket, ProtocolVersion } from "./types";

/** Decodes a PINGREQ: no variable header, no payload. */
export function decodePingreq(flags: number, r: Reader, _version?: ProtocolVersion): PingPacket {
  requireFlags(flags, 0, "PINGREQ");
  r.finish("PINGREQ");
  return { type: "pingreq" };
}

/** Decodes a PINGRESP: no variable header, no payload. */
export function decodePingresp(flags: number, r: Reader, _version?: ProtocolVersion): PingPacket {
  requireFlags(flags, 0, "PINGRESP");
  r.finish("PINGRESP");
  return { type: "pingresp" };
}

/** Encodes a PINGREQ or PINGRESP (two bytes). */
export function encodePing(packet: PingPacket, _version?: ProtocolVersion): Uint8Array {
  return frame(packet.type === "pingreq" ? 12 : 13, 0, null);
}
