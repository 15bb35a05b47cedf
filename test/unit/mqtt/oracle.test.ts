import { describe, expect, it } from "vitest";
import { decode, encode, type Packet, type ProtocolVersion } from "../../../src/mqtt/codec";
import { randomPacket, seeded, typesFor } from "./oracle-gen";
import { canonical, fromTheirs, theirGenerate, theirParse } from "./oracle-map";

const PER_TYPE = 60;

/** PER_TYPE seeded random packets of every type of `version`. */
function corpus(version: ProtocolVersion): Packet[] {
  const rng = seeded(0x5eed + version);
  return typesFor(version).flatMap((type) =>
    Array.from({ length: PER_TYPE }, () => randomPacket(rng, version, type)),
  );
}

describe.each([4, 5] as const)("oracle: mqtt-packet, protocol version %i", (version) => {
  const packets = corpus(version);

  it(`covers every packet type (${packets.length} packets)`, () => {
    expect(new Set(packets.map((p) => p.type))).toEqual(new Set(typesFor(version)));
    if (version === 5)
      expect(packets.filter((p) => "properties" in p && p.properties !== undefined).length).toBeGreaterThan(
        packets.length / 3,
      );
  });

  it("our encoding parses with mqtt-packet to the same packet", () => {
    for (const packet of packets) {
      const theirs = fromTheirs(theirParse(encode(packet, version), version), version);
      expect(canonical(theirs), packet.type).toEqual(canonical(packet));
    }
  });

  it("mqtt-packet's encoding decodes with ours to the same packet", () => {
    for (const packet of packets) {
      const ours = decode(theirGenerate(packet, version), version);
      expect(canonical(ours), packet.type).toEqual(canonical(packet));
    }
  });

  it("our decode of our encoding is the identity", () => {
    for (const packet of packets) {
      expect(canonical(decode(encode(packet, version), version))).toEqual(canonical(packet));
    }
  });
});

describe("oracle: 3.1.1 bytes", () => {
  it("our 3.1.1 encodings are byte-identical to mqtt-packet's", () => {
    for (const packet of corpus(4)) expect(encode(packet, 4), packet.type).toEqual(theirGenerate(packet, 4));
  });
});
