import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Packet, ProtocolVersion } from "../../../src/mqtt/codec";
import { type ConnState, type Ctx, handlePacket, newConnState } from "../../../src/mqtt/session";
import { randomPacket, seeded, typesFor } from "../mqtt/oracle-gen";

// The session core under arbitrary packet sequences (fast-check): every packet is answered or
// ends the connection; nothing throws, and nothing is processed after the end.

const ctx: Ctx = {
  now: 1_000_000,
  who: { app: "xq", id: "u1" },
  isMember: (g) => g === "g1",
  hasSession: () => false,
  hasInboundQos2: () => false,
  inboundQos2Count: () => 0,
  subscriptionCount: () => 0,
  newClientId: () => "auto-1",
};

const packets = (version: ProtocolVersion) =>
  fc.array(
    fc
      .tuple(fc.integer(), fc.constantFrom(...typesFor(version)))
      .map(([seed, type]) => randomPacket(seeded(seed), version, type)),
    { minLength: 1, maxLength: 12 },
  );

describe.each([4, 5] as const)("session core properties, protocol level %i", (version) => {
  it("never throws; once closed, it stays closed and sends nothing more", () => {
    fc.assert(
      fc.property(fc.boolean(), packets(version), (startWithConnect, sequence) => {
        const first: Packet[] = startWithConnect
          ? [{ type: "connect", protocolVersion: version, clientId: "c", clean: true, keepalive: 60 }]
          : [];
        let conn: ConnState = newConnState();
        let closed = false;
        for (const packet of [...first, ...sequence]) {
          const result = handlePacket(conn, packet, ctx);
          if (closed) {
            expect(result.out).toEqual([]);
            expect(result.effects).toEqual([]);
          }
          conn = result.conn;
          if (result.close) {
            expect(conn.phase).toBe("closed");
            closed = true;
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("anything but CONNECT first closes the connection without a word", () => {
    fc.assert(
      fc.property(packets(version), ([packet]) => {
        fc.pre(packet !== undefined && packet.type !== "connect");
        const result = handlePacket(newConnState(), packet as Packet, ctx);
        expect(result.close).toBeDefined();
        expect(result.out).toEqual([]); // [MQTT-3.1.0-1]: no CONNACK, no DISCONNECT before CONNECT
      }),
      { numRuns: 500 },
    );
  });
});
