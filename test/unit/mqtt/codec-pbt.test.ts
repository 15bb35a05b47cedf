import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decode,
  encode,
  FrameBuffer,
  MalformedPacket,
  type Packet,
  type ProtocolVersion,
} from "../../../src/mqtt/codec";
import { randomPacket, seeded, typesFor } from "./oracle-gen";
import { canonical } from "./oracle-map";

// Property-based tests of the codec (fast-check). Valid packets come from the oracle's generator
// (every packet type, every property a context allows, multi-byte text), driven by fast-check's
// seeds so a failure names the seed that reproduces it.

const RUNS = { numRuns: 400 };

const packetOf = (version: ProtocolVersion) =>
  fc
    .tuple(fc.integer(), fc.constantFrom(...typesFor(version)))
    .map(([seed, type]) => randomPacket(seeded(seed), version, type));

/** A stream of packets as a 5.0 or 3.1.1 client sends them: CONNECT first, then anything. */
const sessionOf = (version: ProtocolVersion) =>
  fc
    .tuple(fc.integer(), fc.array(packetOf(version), { maxLength: 8 }))
    .map(([seed, rest]): Packet[] => [
      randomPacket(seeded(seed), version, "connect"),
      ...rest.filter((p) => p.type !== "connect"),
    ]);

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** Feeds `bytes` to a fresh FrameBuffer cut at `cuts`, collecting every packet. */
function feed(bytes: Uint8Array, cuts: number[], version: ProtocolVersion): Packet[] {
  const buffer = new FrameBuffer(undefined, version);
  const points = [...new Set(cuts.map((c) => Math.min(c, bytes.length)))].sort((a, b) => a - b);
  const packets: Packet[] = [];
  let from = 0;
  for (const at of [...points, bytes.length]) {
    packets.push(...buffer.push(bytes.slice(from, at)));
    from = at;
  }
  return packets;
}

/** Runs `work`; it may answer or throw MalformedPacket (or its subclasses), nothing else. */
function onlyMalformed(work: () => unknown): void {
  try {
    work();
  } catch (err) {
    if (!(err instanceof MalformedPacket)) throw err;
  }
}

describe.each([4, 5] as const)("codec properties, protocol level %i", (version) => {
  it("decode(encode(p)) is p, and encoding it again gives the same bytes", () => {
    fc.assert(
      fc.property(packetOf(version), (packet) => {
        const wire = encode(packet, version);
        const back = decode(wire, version);
        expect(canonical(back)).toEqual(canonical(packet));
        expect(encode(back, version)).toEqual(wire);
      }),
      RUNS,
    );
  });

  it("one byte stream cut into frames anywhere yields the same packets", () => {
    fc.assert(
      fc.property(sessionOf(version), fc.array(fc.nat(), { maxLength: 12 }), (packets, cuts) => {
        const bytes = concat(
          packets.map((p) => encode(p, p.type === "connect" ? p.protocolVersion : version)),
        );
        const scaled = cuts.map((c) => c % (bytes.length + 1));
        expect(canonical(feed(bytes, scaled, 4))).toEqual(canonical(packets));
      }),
      { numRuns: 200 },
    );
  });

  it("a stream cut at every single position yields the same packets", () => {
    const packets = fc.sample(sessionOf(version), { numRuns: 5, seed: 42 + version });
    for (const session of packets) {
      const bytes = concat(session.map((p) => encode(p, p.type === "connect" ? p.protocolVersion : version)));
      const step = Math.max(1, Math.floor(bytes.length / 400)); // long payloads: every 400th position
      for (let at = 0; at <= bytes.length; at += step) {
        expect(canonical(feed(bytes, [at], 4))).toEqual(canonical(session));
      }
    }
  });

  it("arbitrary bytes decode to packets or a protocol error, never another exception", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        onlyMalformed(() => decode(bytes, version));
        onlyMalformed(() => new FrameBuffer(undefined, version).push(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it("a valid fixed header with an arbitrary body: packets or a protocol error", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 15 }),
        fc.nat(15),
        fc.uint8Array({ maxLength: 127 }),
        (type, flags, body) => {
          const bytes = Uint8Array.from([(type << 4) | flags, body.length, ...body]);
          onlyMalformed(() => decode(bytes, version));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("a valid packet with bytes flipped: packets or a protocol error", () => {
    fc.assert(
      fc.property(
        packetOf(version),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }),
        (packet, flips) => {
          const wire = Uint8Array.from(encode(packet, version));
          for (const [at, value] of flips) wire[at % wire.length] = value;
          onlyMalformed(() => decode(wire, version));
          onlyMalformed(() => new FrameBuffer(undefined, version).push(wire));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
