import { decodeAuth, encodeAuth } from "./auth";
import { decodeConnack, encodeConnack } from "./connack";
import { decodeConnect, encodeConnect } from "./connect";
import { decodeDisconnect, encodeDisconnect } from "./disconnect";
import { MalformedPacket, malformed, ReasonCode } from "./errors";
import { decodePingreq, decodePingresp, encodePing } from "./ping";
import { decodePuback, decodePubcomp, decodePubrec, decodePubrel, encodePuback } from "./puback";
import { decodePublish, encodePublish } from "./publish";
import { Reader, VARINT_MAX } from "./reader";
import { decodeSuback, encodeSuback } from "./suback";
import { decodeSubscribe, encodeSubscribe } from "./subscribe";
import type { Packet, ProtocolVersion } from "./types";
import { decodeUnsuback, encodeUnsuback } from "./unsuback";
import { decodeUnsubscribe, encodeUnsubscribe } from "./unsubscribe";

export { MalformedPacket, ReasonCode, UnsupportedProtocolVersion } from "./errors";
export type { PropertyContext } from "./properties";
export { Reader, Writer } from "./reader";
export { isValidTopicFilter, isValidTopicName } from "./topic";
export * from "./types";

type Decoder = (flags: number, r: Reader, version: ProtocolVersion) => Packet;

const DECODERS: readonly (Decoder | undefined)[] = [
  undefined, // 0 is reserved (2.1.2)
  decodeConnect,
  decodeConnack,
  decodePublish,
  decodePuback,
  decodePubrec,
  decodePubrel,
  decodePubcomp,
  decodeSubscribe,
  decodeSuback,
  decodeUnsubscribe,
  decodeUnsuback,
  decodePingreq,
  decodePingresp,
  decodeDisconnect,
  decodeAuth,
];

/** Largest possible MQTT packet: 1 type byte, 4 length bytes, 268,435,455 body bytes. */
export const MAX_PACKET_SIZE = 1 + 4 + VARINT_MAX;

/** A parsed fixed header: packet type, flags, its own length and the Remaining Length. */
export interface FixedHeader {
  type: number;
  flags: number;
  headerLength: number;
  remainingLength: number;
}

/**
 * Parses the fixed header at `bytes[start, end)`; null while it is incomplete. A reserved packet
 * type, or a Remaining Length needing a 5th byte or not minimally encoded, is malformed.
 */
export function readFixedHeader(bytes: Uint8Array, start = 0, end = bytes.length): FixedHeader | null {
  if (end <= start) return null;
  const first = bytes[start] as number;
  if (first >> 4 === 0) throw malformed("reserved control packet type 0"); // 2.1.2
  let value = 0;
  for (let i = 0; i < 4; i++) {
    if (start + 1 + i >= end) return null;
    const byte = bytes[start + 1 + i] as number;
    value += (byte & 0x7f) * 128 ** i;
    if ((byte & 0x80) === 0) {
      if (byte === 0 && i > 0) throw malformed("remaining length: not minimally encoded"); // [MQTT-1.5.5-1]
      return { type: first >> 4, flags: first & 0x0f, headerLength: 2 + i, remainingLength: value };
    }
  }
  throw malformed("remaining length: more than 4 bytes"); // 2.1.4 / 1.5.5: at most 4 bytes
}

function decodeBody(header: FixedHeader, bytes: Uint8Array, start: number, version: ProtocolVersion): Packet {
  const decoder = DECODERS[header.type] as Decoder;
  const bodyStart = start + header.headerLength;
  return decoder(header.flags, new Reader(bytes, bodyStart, bodyStart + header.remainingLength), version);
}

/** Decodes exactly one complete packet; anything shorter or longer is malformed. */
export function decode(bytes: Uint8Array, version: ProtocolVersion): Packet {
  const header = readFixedHeader(bytes);
  if (!header) throw malformed("incomplete fixed header");
  const total = header.headerLength + header.remainingLength;
  if (bytes.length !== total) throw malformed(`packet is ${bytes.length} bytes, its header says ${total}`);
  return decodeBody(header, bytes, 0, version);
}

/** Encodes one packet for `version` (a CONNECT always uses its own `protocolVersion`). */
export function encode(packet: Packet, version: ProtocolVersion): Uint8Array {
  switch (packet.type) {
    case "connect":
      return encodeConnect(packet, version);
    case "connack":
      return encodeConnack(packet, version);
    case "publish":
      return encodePublish(packet, version);
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return encodePuback(packet, version);
    case "subscribe":
      return encodeSubscribe(packet, version);
    case "suback":
      return encodeSuback(packet, version);
    case "unsubscribe":
      return encodeUnsubscribe(packet, version);
    case "unsuback":
      return encodeUnsuback(packet, version);
    case "pingreq":
    case "pingresp":
      return encodePing(packet, version);
    case "disconnect":
      return encodeDisconnect(packet, version);
    case "auth":
      return encodeAuth(packet, version);
  }
}

/**
 * Stream decoder: bytes arrive in arbitrary chunks (a packet may span WebSocket frames, a frame
 * may hold several packets). `push` returns the packets completed so far, [] while waiting. The
 * protocol version is learnt from CONNECT. Malformed input, or a packet larger than
 * `maxPacketSize` (checked as soon as its fixed header is known: reason 0x95), throws
 * MalformedPacket; after that every push throws the same error and the connection must close.
 */
export class FrameBuffer {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private pendingSize: number | null = null;
  private failure: MalformedPacket | null = null;

  constructor(
    readonly maxPacketSize = MAX_PACKET_SIZE,
    public version: ProtocolVersion = 4,
  ) {}

  /** Bytes received but not yet decoded. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Appends `bytes` and returns every packet now complete. Unconsumed bytes are kept by reference: do not reuse a pushed chunk. */
  push(bytes: Uint8Array): Packet[] {
    if (this.failure) throw this.failure;
    if (bytes.length > 0) {
      this.chunks.push(bytes);
      this.buffered += bytes.length;
    }
    const packets: Packet[] = [];
    try {
      for (;;) {
        if (this.pendingSize === null) {
          const head = this.take(Math.min(5, this.buffered), false);
          const header = readFixedHeader(head);
          if (!header) break;
          const total = header.headerLength + header.remainingLength;
          if (total > this.maxPacketSize) {
            throw new MalformedPacket(
              ReasonCode.PacketTooLarge,
              `packet of ${total} bytes exceeds ${this.maxPacketSize}`,
            );
          }
          this.pendingSize = total;
        }
        if (this.buffered < this.pendingSize) break;
        const frame = this.take(this.pendingSize, true);
        this.pendingSize = null;
        const packet = decode(frame, this.version);
        if (packet.type === "connect") this.version = packet.protocolVersion;
        packets.push(packet);
      }
    } catch (error) {
      if (error instanceof MalformedPacket) this.failure = error;
      throw error;
    }
    return packets;
  }

  // the first `n` buffered bytes (zero-copy when they sit in one chunk), consumed or not
  private take(n: number, consume: boolean): Uint8Array {
    const first = this.chunks[0];
    let out: Uint8Array;
    if (first && first.length >= n) {
      out = first.subarray(0, n);
    } else {
      out = new Uint8Array(n);
      let filled = 0;
      for (const chunk of this.chunks) {
        if (filled === n) break;
        const part = chunk.subarray(0, n - filled);
        out.set(part, filled);
        filled += part.length;
      }
    }
    if (consume) this.drop(n);
    return out;
  }

  private drop(n: number): void {
    let left = n;
    while (left > 0) {
      const chunk = this.chunks[0] as Uint8Array;
      if (chunk.length <= left) {
        this.chunks.shift();
        left -= chunk.length;
      } else {
        this.chunks[0] = chunk.subarray(left);
        left = 0;
      }
    }
    this.buffered -= n;
  }
}
