import { expect } from "vitest";
import { decode, encode, MalformedPacket, type Packet, type ProtocolVersion } from "../../../src/mqtt/codec";

const utf8 = new TextEncoder();

/** Bytes from numbers, byte arrays and strings (strings as raw UTF-8, without a length prefix). */
export const bytes = (...parts: (number | readonly number[] | Uint8Array | string)[]): Uint8Array =>
  Uint8Array.from(
    parts.flatMap((p) =>
      typeof p === "number" ? [p] : typeof p === "string" ? [...utf8.encode(p)] : [...p],
    ),
  );

/** UTF-8 bytes of `text`. */
export const text = (value: string): Uint8Array => utf8.encode(value);

/** decode(bytes) equals the packet, encode(packet) equals the bytes, and encode(decode(bytes)) too. */
export function expectFixture(wire: Uint8Array, packet: Packet, version: ProtocolVersion): void {
  expect(decode(wire, version)).toEqual(packet);
  expect(encode(packet, version)).toEqual(wire);
  expect(encode(decode(wire, version), version)).toEqual(wire);
}

/** Runs `fn`, expecting a MalformedPacket with `reason`; returns it. */
export function expectMalformed(fn: () => unknown, reason: number): MalformedPacket {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(MalformedPacket);
  const error = caught as MalformedPacket;
  expect(error.reason, error.message).toBe(reason);
  return error;
}
