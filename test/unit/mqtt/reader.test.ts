import { describe, expect, it } from "vitest";
import { Reader, Writer } from "../../../src/mqtt/codec";
import { bytes, expectMalformed } from "./helpers";

const MALFORMED = 0x81;

describe("Variable Byte Integer (1.5.5)", () => {
  it.each([
    [0, [0x00]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [16_383, [0xff, 0x7f]],
    [16_384, [0x80, 0x80, 0x01]],
    [2_097_151, [0xff, 0xff, 0x7f]],
    [2_097_152, [0x80, 0x80, 0x80, 0x01]],
    [268_435_455, [0xff, 0xff, 0xff, 0x7f]],
  ])("%i is encoded as %j and decoded back", (value, wire) => {
    expect(new Writer().varint(value).view()).toEqual(bytes(wire));
    const r = new Reader(bytes(wire));
    expect(r.varint()).toBe(value);
    expect(r.remaining).toBe(0);
  });

  it("a 5th byte is malformed", () => {
    expectMalformed(() => new Reader(bytes(0xff, 0xff, 0xff, 0xff, 0x01)).varint(), MALFORMED);
  });

  it("[MQTT-1.5.5-1] a non-minimal encoding is malformed", () => {
    expectMalformed(() => new Reader(bytes(0x80, 0x00)).varint(), MALFORMED);
    expectMalformed(() => new Reader(bytes(0xff, 0x80, 0x00)).varint(), MALFORMED);
  });

  it("a truncated integer is malformed", () => {
    expectMalformed(() => new Reader(bytes(0x80)).varint(), MALFORMED);
  });

  it("values outside 0..268,435,455 cannot be encoded", () => {
    expect(() => new Writer().varint(268_435_456)).toThrow(RangeError);
    expect(() => new Writer().varint(-1)).toThrow(RangeError);
  });
});

describe("fixed-size integers", () => {
  it("reads and writes big-endian u8 / u16 / u32", () => {
    const wire = new Writer(1).u8(0xab).u16(0x1234).u32(0xfedc_ba98).view();
    expect(wire).toEqual(bytes(0xab, 0x12, 0x34, 0xfe, 0xdc, 0xba, 0x98));
    const r = new Reader(wire);
    expect([r.u8(), r.u16(), r.u32()]).toEqual([0xab, 0x1234, 0xfedc_ba98]);
  });

  it("reading past the end is malformed", () => {
    expectMalformed(() => new Reader(bytes(0x01)).u16(), MALFORMED);
    expectMalformed(() => new Reader(bytes(0x01, 0x02, 0x03)).u32(), MALFORMED);
    expectMalformed(() => new Reader(bytes()).u8(), MALFORMED);
  });

  it("a sub-reader stops at its own end", () => {
    const r = new Reader(bytes(0x01, 0x02, 0x03));
    const sub = r.sub(2);
    expect(sub.u16()).toBe(0x0102);
    expectMalformed(() => sub.u8(), MALFORMED);
    expect(r.u8()).toBe(0x03);
  });

  it("the writer grows past its initial capacity", () => {
    const w = new Writer(1);
    for (let i = 0; i < 1000; i++) w.u8(i & 0xff);
    expect(w.length).toBe(1000);
    expect([...w.view()]).toEqual(Array.from({ length: 1000 }, (_, i) => i & 0xff));
    expect(
      new Writer(2)
        .u8(1)
        .bytes(bytes(2, 3, 4))
        .u16(0x0506)
        .view(),
    ).toEqual(bytes(1, 2, 3, 4, 5, 6));
  });
});

describe("UTF-8 Encoded String (1.5.4)", () => {
  it("round-trips multi-byte characters with a byte-count prefix", () => {
    const wire = new Writer().utf8("é😀").view();
    expect(wire).toEqual(bytes(0x00, 0x06, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80));
    expect(new Reader(wire).utf8()).toBe("é😀");
  });

  it.each([
    ["an invalid continuation", [0xc3, 0x28]],
    ["an overlong encoding of U+0000", [0xc0, 0x80]],
    ["a UTF-16 surrogate U+D800", [0xed, 0xa0, 0x80]],
    ["a truncated sequence", [0xe2, 0x82]],
    ["a byte never valid in UTF-8", [0xff]],
  ])("[MQTT-1.5.4-1] %s is malformed", (_, body) => {
    expectMalformed(() => new Reader(bytes(0x00, body.length, body)).utf8(), MALFORMED);
  });

  it("[MQTT-1.5.4-2] U+0000 is malformed", () => {
    expectMalformed(() => new Reader(bytes(0x00, 0x03, 0x61, 0x00, 0x62)).utf8(), MALFORMED);
  });

  it("[MQTT-1.5.4-3] a leading BOM (U+FEFF) is kept", () => {
    expect(new Reader(bytes(0x00, 0x04, 0xef, 0xbb, 0xbf, 0x61)).utf8()).toBe("\ufeffa");
  });

  it("a length running past the end is malformed", () => {
    expectMalformed(() => new Reader(bytes(0x00, 0x05, 0x61)).utf8(), MALFORMED);
  });
});

describe("Binary Data (1.5.6)", () => {
  it("round-trips, and the result is a copy", () => {
    const wire = new Writer().binary(bytes(1, 2, 3)).view();
    expect(wire).toEqual(bytes(0x00, 0x03, 1, 2, 3));
    const data = new Reader(wire).binary();
    wire[2] = 9;
    expect(data).toEqual(bytes(1, 2, 3));
  });

  it("more than 65,535 bytes cannot be encoded", () => {
    expect(() => new Writer().binary(new Uint8Array(65_536))).toThrow(RangeError);
  });
});
