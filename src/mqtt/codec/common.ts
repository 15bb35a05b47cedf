import { malformed, protocolError } from "./errors";
import { type Reader, VARINT_MAX, Writer } from "./reader";

/** Throws unless the fixed header flags are the reserved value for this packet type. */
export function requireFlags(flags: number, expected: number, packet: string): void {
  if (flags !== expected) {
    throw malformed(`${packet}: fixed header flags must be 0b${expected.toString(2).padStart(4, "0")}`); // [MQTT-2.2.2-1] [MQTT-2.2.2-2]
  }
}

/** Reads a Packet Identifier, which is never 0. */
export function readMessageId(r: Reader, packet: string): number {
  const id = r.u16(`${packet} packet identifier`);
  if (id === 0) throw protocolError(`${packet}: packet identifier 0`); // [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1])
  return id;
}

/** Throws a Protocol Error unless `code` is one of the reason codes `packet` may carry. */
export function checkReasonCode(code: number, allowed: ReadonlySet<number>, packet: string): number {
  if (!allowed.has(code)) throw protocolError(`${packet}: invalid reason code 0x${code.toString(16)}`);
  return code;
}

/** Number of bytes of `value` as a Variable Byte Integer. */
export const varintSize = (value: number): number =>
  value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;

/** A whole packet: fixed header (type, flags, Remaining Length) then the body. */
export function frame(type: number, flags: number, body: Writer | null): Uint8Array {
  const length = body?.length ?? 0;
  if (length > VARINT_MAX) throw new RangeError(`packet body of ${length} bytes exceeds the MQTT maximum`);
  const out = new Writer(1 + varintSize(length) + length);
  out.u8((type << 4) | flags).varint(length);
  if (body) out.bytes(body.view());
  return out.view();
}

/** Throws a RangeError unless `id` is a valid Packet Identifier (1..65535) for encoding. */
export function checkMessageId(id: number | undefined, packet: string): number {
  if (id === undefined || !Number.isInteger(id) || id < 1 || id > 0xffff) {
    throw new RangeError(`${packet}: packet identifier must be 1..65535, got ${id}`);
  }
  return id;
}
