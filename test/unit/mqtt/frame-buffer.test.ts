import { describe, expect, it } from "vitest";
import { decode, encode, FrameBuffer, type Packet, type ProtocolVersion } from "../../../src/mqtt/codec";
import { bytes, expectMalformed, text } from "./helpers";

const connect5: Packet = {
  type: "connect",
  protocolVersion: 5,
  clientId: "dev-1",
  clean: true,
  keepalive: 30,
  properties: { sessionExpiryInterval: 60, userProperties: [["a", "b"]] },
  will: { topic: "w", payload: text("gone"), qos: 1, retain: false, properties: { willDelayInterval: 5 } },
  username: "u",
  password: text("p"),
};
const publish5: Packet = {
  type: "publish",
  topic: "t/1",
  payload: new Uint8Array(300).fill(7),
  qos: 2,
  retain: true,
  dup: false,
  messageId: 9,
  properties: { messageExpiryInterval: 10, correlationData: bytes(1, 2), userProperties: [["k", "v"]] },
};
const subscribe5: Packet = {
  type: "subscribe",
  messageId: 10,
  subscriptions: [{ topic: "a/#", qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 0 }],
  properties: { subscriptionIdentifiers: [7] },
};
const pingreq: Packet = { type: "pingreq" };
const stream5: Packet[] = [connect5, publish5, pingreq, subscribe5];
const wire5 = stream5.map((p) => encode(p, 5));
const concat = (parts: Uint8Array[]) => bytes(...parts);

describe("FrameBuffer", () => {
  it.each(wire5.map((w, i) => [stream5[i]?.type, w] as const))(
    "every prefix of %s is incomplete",
    (_, wire) => {
      for (let n = 0; n < wire.length; n++) {
        const buffer = new FrameBuffer(undefined, 5);
        expect(buffer.push(wire.subarray(0, n))).toEqual([]);
        expect(buffer.pendingBytes).toBe(n);
      }
    },
  );

  it.each([4, 5] as const)(
    "byte by byte, version %i: nothing until the last byte",
    (version: ProtocolVersion) => {
      const packet: Packet = {
        type: "publish",
        topic: "x",
        payload: new Uint8Array(20_000),
        qos: 1,
        retain: false,
        dup: false,
        messageId: 1,
      };
      const wire = encode(packet, version);
      const buffer = new FrameBuffer(undefined, version);
      for (let i = 0; i < wire.length - 1; i++) expect(buffer.push(wire.subarray(i, i + 1))).toEqual([]);
      expect(buffer.push(wire.subarray(wire.length - 1))).toEqual([packet]);
      expect(buffer.pendingBytes).toBe(0);
    },
  );

  it("several packets in one chunk; the version is learnt from CONNECT", () => {
    const buffer = new FrameBuffer();
    expect(buffer.version).toBe(4);
    expect(buffer.push(concat(wire5))).toEqual(stream5);
    expect(buffer.version).toBe(5);
  });

  it("a stream cut at arbitrary points decodes to the same packets", () => {
    const all = concat(wire5);
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 50; round++) {
      const buffer = new FrameBuffer();
      const out: Packet[] = [];
      for (let at = 0; at < all.length; ) {
        const size = 1 + Math.floor(random() * (round < 25 ? 8 : 400));
        out.push(...buffer.push(all.subarray(at, at + size)));
        at += size;
      }
      expect(out).toEqual(stream5);
      expect(buffer.pendingBytes).toBe(0);
    }
  });

  it("the tail of one packet and the start of the next in one chunk", () => {
    const buffer = new FrameBuffer(undefined, 5);
    const [a, b] = [encode(publish5, 5), encode(pingreq, 5)];
    expect(buffer.push(a.subarray(0, 100))).toEqual([]);
    expect(buffer.push(concat([a.subarray(100), b.subarray(0, 1)]))).toEqual([publish5]);
    expect(buffer.push(b.subarray(1))).toEqual([pingreq]);
  });

  it("an empty chunk changes nothing", () => {
    expect(new FrameBuffer().push(new Uint8Array())).toEqual([]);
  });

  it("a packet over maxPacketSize is refused (0x95) as soon as its fixed header is known", () => {
    const buffer = new FrameBuffer(100, 5);
    const wire = encode(publish5, 5);
    expectMalformed(() => buffer.push(wire.subarray(0, 3)), 0x95);
  });

  it("a packet of exactly maxPacketSize is accepted", () => {
    const wire = encode(publish5, 5);
    expect(new FrameBuffer(wire.length, 5).push(wire)).toEqual([publish5]);
  });

  it("after malformed input, every push throws the same error", () => {
    const buffer = new FrameBuffer();
    const error = expectMalformed(() => buffer.push(bytes(0xc0, 0x00, 0x60, 0x02, 0x00, 0x01)), 0x81);
    expect(() => buffer.push(bytes(0xc0, 0x00))).toThrow(error);
  });

  it("malformed input after good packets in the same chunk still throws", () => {
    expectMalformed(() => new FrameBuffer().push(bytes(0xc0, 0x00, 0x00, 0x00)), 0x81);
  });
});

describe("decode (one complete packet)", () => {
  it("an incomplete packet is malformed", () => {
    const wire = encode(publish5, 5);
    expectMalformed(() => decode(wire.subarray(0, wire.length - 1), 5), 0x81);
    expectMalformed(() => decode(bytes(), 5), 0x81);
    expectMalformed(() => decode(bytes(0x30, 0x80), 5), 0x81);
  });

  it("trailing bytes are malformed", () => {
    expectMalformed(() => decode(bytes(0xc0, 0x00, 0x00), 4), 0x81);
  });

  it("decoded binary fields are copies, not views of the input", () => {
    const wire = encode(publish5, 5);
    const packet = decode(wire, 5);
    wire.fill(0);
    expect(packet).toEqual(publish5);
  });
});
