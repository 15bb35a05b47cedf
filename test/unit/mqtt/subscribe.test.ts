import { describe, it } from "vitest";
import type {
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from "../../../src/mqtt/codec";
import { bytes, expectFixture } from "./helpers";

describe("SUBSCRIBE", () => {
  it("3.1.1: two topic filters", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x82, 0x0e,             // SUBSCRIBE (flags 0b0010), remaining length 14
      0x00, 0x01,             // packet identifier 1
      0x00, 0x03, "a/b",      // topic filter
      0x00,                   //   options: QoS 0
      0x00, 0x03, "c/#",      // topic filter
      0x02,                   //   options: QoS 2
    );
    const packet: SubscribePacket = {
      type: "subscribe",
      messageId: 1,
      subscriptions: [
        { topic: "a/b", qos: 0 },
        { topic: "c/#", qos: 2 },
      ],
    };
    expectFixture(wire, packet, 4);
  });

  it("5.0: subscription identifier and subscription options", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x82, 0x1f,             // SUBSCRIBE, remaining length 31
      0x00, 0x02,             // packet identifier 2
      0x09,                   // property length 9
      0x0b, 0x05,             //   subscription identifier 5
      0x26, 0x00, 0x01, "u", 0x00, 0x01, "v", // user property u=v
      0x00, 0x03, "a/+",      // topic filter
      0x2d,                   //   options: retain handling 2, retain as published, no local, QoS 1
      0x00, 0x0a, "$share/g/x", // topic filter (shared)
      0x10,                   //   options: retain handling 1, QoS 0
    );
    const packet: SubscribePacket = {
      type: "subscribe",
      messageId: 2,
      properties: { subscriptionIdentifiers: [5], userProperties: [["u", "v"]] },
      subscriptions: [
        { topic: "a/+", qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { topic: "$share/g/x", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 1 },
      ],
    };
    expectFixture(wire, packet, 5);
  });
});

describe("SUBACK", () => {
  it("3.1.1: granted QoS and failure", () => {
    // SUBACK, remaining length 5, packet identifier 1, return codes: QoS 0, QoS 2, failure 0x80
    const wire = bytes(0x90, 0x05, 0x00, 0x01, 0x00, 0x02, 0x80);
    const packet: SubackPacket = { type: "suback", messageId: 1, granted: [0, 2, 0x80] };
    expectFixture(wire, packet, 4);
  });

  it("5.0: reason codes and a reason string", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x90, 0x0b,             // SUBACK, remaining length 11
      0x00, 0x02,             // packet identifier 2
      0x05,                   // property length 5
      0x1f, 0x00, 0x02, "no", //   reason string
      0x01, 0x8f, 0x9e,       // granted QoS 1, topic filter invalid, shared subscriptions not supported
    );
    const packet: SubackPacket = {
      type: "suback",
      messageId: 2,
      granted: [1, 0x8f, 0x9e],
      properties: { reasonString: "no" },
    };
    expectFixture(wire, packet, 5);
  });
});

describe("UNSUBSCRIBE", () => {
  it("3.1.1: two topic filters", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0xa2, 0x0a,             // UNSUBSCRIBE (flags 0b0010), remaining length 10
      0x00, 0x03,             // packet identifier 3
      0x00, 0x03, "a/b",      // topic filter
      0x00, 0x01, "c",        // topic filter
    );
    const packet: UnsubscribePacket = { type: "unsubscribe", messageId: 3, unsubscriptions: ["a/b", "c"] };
    expectFixture(wire, packet, 4);
  });

  it("5.0: with a user property", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0xa2, 0x0d,             // UNSUBSCRIBE, remaining length 13
      0x00, 0x04,             // packet identifier 4
      0x07,                   // property length 7
      0x26, 0x00, 0x01, "k", 0x00, 0x01, "v", // user property k=v
      0x00, 0x01, "x",        // topic filter
    );
    const packet: UnsubscribePacket = {
      type: "unsubscribe",
      messageId: 4,
      unsubscriptions: ["x"],
      properties: { userProperties: [["k", "v"]] },
    };
    expectFixture(wire, packet, 5);
  });
});

describe("UNSUBACK", () => {
  it("3.1.1: packet identifier only", () => {
    expectFixture(bytes(0xb0, 0x02, 0x00, 0x03), { type: "unsuback", messageId: 3 }, 4);
  });

  it("5.0: one reason code per topic filter", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0xb0, 0x05,             // UNSUBACK, remaining length 5
      0x00, 0x04,             // packet identifier 4
      0x00,                   // property length 0
      0x00, 0x11,             // success, no subscription existed
    );
    const packet: UnsubackPacket = { type: "unsuback", messageId: 4, granted: [0x00, 0x11] };
    expectFixture(wire, packet, 5);
  });
});
