import { malformed } from "./errors";

export { MalformedPacket, UnsupportedProtocolVersion } from "./errors";

/** Largest value of a Variable Byte Integer (4 bytes). */
export const VARINT_MAX = 268_435_455;

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/**
 * Sequential reader over `bytes[start, end)`. Reading past `end` means the packet's lengths
 * disagree with its Remaining Length: a Malformed Packet.
 */
export class Reader {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  /** Bytes left before `end`. */
  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): number {
    if (this.end - this.pos < n) throw malformed(`${what}: truncated`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** One byte. */
  u8(what = "byte"): number {
    return this.bytes[this.need(1, what)] as number;
  }

  /** Two Byte Integer, big-endian. */
  u16(what = "two byte integer"): number {
    const at = this.need(2, what);
    return ((this.bytes[at] as number) << 8) | (this.bytes[at + 1] as number);
  }

  /** Four Byte Integer, big-endian. */
  u32(what = "four byte integer"): number {
    const at = this.need(4, what);
    const b = this.bytes;
    return (
      (b[at] as number) * 0x100_0000 +
      (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number))
    );
  }

  /** Variable Byte Integer: at most 4 bytes, minimal encoding [MQTT-1.5.5-1]. */
  varint(what = "variable byte integer"): number {
    let value = 0;
    for (let i = 0; i < 4; i++) {
      const byte = this.u8(what);
      value += (byte & 0x7f) * 128 ** i;
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw malformed(`${what}: not minimally encoded`); // [MQTT-1.5.5-1]
        return value;
      }
    }
    throw malformed(`${what}: more than 4 bytes`); // a 5th byte is never valid (1.5.5)
  }

  /** `n` raw bytes, copied. */
  bytesN(n: number, what = "bytes"): Uint8Array {
    const at = this.need(n, what);
    return this.bytes.slice(at, at + n);
  }

  /** Binary Data: Two Byte Integer length, then that many bytes (copied). */
  binary(what = "binary data"): Uint8Array {
    return this.bytesN(this.u16(what), what);
  }

  /** UTF-8 Encoded String; ill-formed UTF-8 and U+0000 are malformed. */
  utf8(what = "string"): string {
    const n = this.u16(what);
    const at = this.need(n, what);
    let text: string;
    try {
      text = decoder.decode(this.bytes.subarray(at, at + n));
    } catch {
      throw malformed(`${what}: ill-formed UTF-8`); // [MQTT-1.5.4-1] (3.1.1: [MQTT-1.5.3-1])
    }
    if (text.includes("\u0000")) throw malformed(`${what}: contains U+0000`); // [MQTT-1.5.4-2] (3.1.1: [MQTT-1.5.3-2])
    return text;
  }

  /** Everything up to `end`, copied. */
  rest(): Uint8Array {
    return this.bytesN(this.remaining);
  }

  /** A reader over the next `n` bytes; this reader skips past them. */
  sub(n: number, what = "section"): Reader {
    const at = this.need(n, what);
    return new Reader(this.bytes, at, at + n);
  }

  /** Throws unless every byte has been read: trailing bytes are malformed. */
  finish(what: string): void {
    if (this.pos !== this.end) throw malformed(`${what}: ${this.end - this.pos} unexpected trailing bytes`);
  }
}

/** Byte length of `text` as UTF-8. */
export const utf8Length = (text: string): number => encoder.encode(text).length;

/** A growable byte buffer for encoding. */
export class Writer {
  private buf: Uint8Array;
  length = 0;

  constructor(capacity = 64) {
    this.buf = new Uint8Array(capacity);
  }

  private room(n: number): number {
    const at = this.length;
    if (at + n > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, at + n));
      grown.set(this.buf.subarray(0, at));
      this.buf = grown;
    }
    this.length += n;
    return at;
  }

  /** One byte. */
  u8(value: number): this {
    const at = this.room(1); // grow first: `this.buf` may be replaced
    this.buf[at] = value;
    return this;
  }

  /** Two Byte Integer. */
  u16(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`not a u16: ${value}`);
    const at = this.room(2);
    this.buf[at] = value >>> 8;
    this.buf[at + 1] = value & 0xff;
    return this;
  }

  /** Four Byte Integer. */
  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff)
      throw new RangeError(`not a u32: ${value}`);
    const at = this.room(4);
    this.buf[at] = value >>> 24;
    this.buf[at + 1] = (value >>> 16) & 0xff;
    this.buf[at + 2] = (value >>> 8) & 0xff;
    this.buf[at + 3] = value & 0xff;
    return this;
  }

  /** Variable Byte Integer (minimal encoding). */
  varint(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > VARINT_MAX) {
      throw new RangeError(`not a variable byte integer: ${value}`);
    }
    let rest = value;
    do {
      let byte = rest % 128;
      rest = Math.floor(rest / 128);
      if (rest > 0) byte |= 0x80;
      this.u8(byte);
    } while (rest > 0);
    return this;
  }

  /** Raw bytes. */
  bytes(data: Uint8Array): this {
    const at = this.room(data.length);
    this.buf.set(data, at);
    return this;
  }

  /** Binary Data (Two Byte Integer length prefix). */
  binary(data: Uint8Array): this {
    return this.u16(data.length).bytes(data);
  }

  /** UTF-8 Encoded String (Two Byte Integer length prefix). */
  utf8(text: string): this {
    return this.binary(encoder.encode(text));
  }

  /** The bytes written so far (a view, valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}
