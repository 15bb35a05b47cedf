import { describe, expect, it } from "vitest";
import { type AuthPacket, type DisconnectPacket, decode, encode } from "../../../src/mqtt/codec";
import { bytes, expectFixture } from "./helpers";

describe("PINGREQ, PINGRESP", () => {
  it.each([4, 5] as const)("version %i: two bytes each", (version) => {
    expectFixture(bytes(0xc0, 0x00), { type: "pingreq" }, version);
    expectFixture(bytes(0xd0, 0x00), { type: "pingresp" }, version);
  });
});

describe("DISCONNECT", () => {
  it("3.1.1: two bytes", () => {
    expectFixture(bytes(0xe0, 0x00), { type: "disconnect" }, 4);
  });

  it("3.1.1: a 5.0 reason code is not written", () => {
    expect(encode({ type: "disconnect", reasonCode: 0x04 }, 4)).toEqual(bytes(0xe0, 0x00));
  });

  it("5.0: remaining length 0 is a normal disconnection", () => {
    expectFixture(bytes(0xe0, 0x00), { type: "disconnect", reasonCode: 0 }, 5);
  });

  it("5.0: a reason code alone omits the property length", () => {
    // DISCONNECT, remaining length 1, reason 0x04 disconnect with will message
    expectFixture(bytes(0xe0, 0x01, 0x04), { type: "disconnect", reasonCode: 0x04 }, 5);
  });

  it("5.0: reason code and properties", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0xe0, 0x0c,                   // DISCONNECT, remaining length 12
      0x9c,                         // reason: use another server
      0x0a,                         // property length 10
      0x11, 0x00, 0x00, 0x00, 0x00, //   session expiry interval 0
      0x1c, 0x00, 0x02, "s2",       //   server reference
    );
    const packet: DisconnectPacket = {
      type: "disconnect",
      reasonCode: 0x9c,
      properties: { sessionExpiryInterval: 0, serverReference: "s2" },
    };
    expectFixture(wire, packet, 5);
  });

  it("5.0: explicit reason 0 with property length 0 decodes to the same packet", () => {
    expect(decode(bytes(0xe0, 0x02, 0x00, 0x00), 5)).toEqual({ type: "disconnect", reasonCode: 0 });
  });
});

describe("AUTH (5.0 only)", () => {
  it("continue authentication with method and data", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0xf0, 0x15,                   // AUTH, remaining length 21
      0x18,                         // reason: continue authentication
      0x13,                         // property length 19
      0x15, 0x00, 0x0b, "SCRAM-SHA-1", // authentication method
      0x16, 0x00, 0x02, 0x01, 0x02, //   authentication data
    );
    const packet: AuthPacket = {
      type: "auth",
      reasonCode: 0x18,
      properties: { authenticationMethod: "SCRAM-SHA-1", authenticationData: bytes(1, 2) },
    };
    expectFixture(wire, packet, 5);
  });

  it("remaining length 0 means success; it is encoded in full", () => {
    expect(decode(bytes(0xf0, 0x00), 5)).toEqual({ type: "auth", reasonCode: 0 });
    expectFixture(bytes(0xf0, 0x02, 0x00, 0x00), { type: "auth", reasonCode: 0 }, 5);
  });

  it("cannot be encoded for 3.1.1", () => {
    expect(() => encode({ type: "auth", reasonCode: 0 }, 4)).toThrow(RangeError);
  });
});
