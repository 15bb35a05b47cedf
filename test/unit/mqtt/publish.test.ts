import { describe, it } from "vitest";
import type { PubackPacket, PublishPacket } from "../../../src/mqtt/codec";
import { bytes, expectFixture, text } from "./helpers";

describe("PUBLISH", () => {
  it("3.1.1: QoS 0", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x30, 0x07,             // PUBLISH, QoS 0, remaining length 7
      0x00, 0x03, "a/b",      // topic name
      "hi",                   // payload
    );
    const packet: PublishPacket = {
      type: "publish",
      topic: "a/b",
      payload: text("hi"),
      qos: 0,
      retain: false,
      dup: false,
    };
    expectFixture(wire, packet, 4);
  });

  it("3.1.1: QoS 1, DUP and RETAIN", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x3b, 0x0a,             // PUBLISH, flags DUP | QoS 1 | RETAIN, remaining length 10
      0x00, 0x03, "a/b",      // topic name
      0x00, 0x0a,             // packet identifier 10
      1, 2, 3,                // payload
    );
    const packet: PublishPacket = {
      type: "publish",
      topic: "a/b",
      payload: bytes(1, 2, 3),
      qos: 1,
      retain: true,
      dup: true,
      messageId: 10,
    };
    expectFixture(wire, packet, 4);
  });

  it("3.1.1: QoS 2, empty payload", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x34, 0x05,             // PUBLISH, QoS 2, remaining length 5
      0x00, 0x01, "t",        // topic name
      0x12, 0x34,             // packet identifier 0x1234
    );
    const packet: PublishPacket = {
      type: "publish",
      topic: "t",
      payload: new Uint8Array(),
      qos: 2,
      retain: false,
      dup: false,
      messageId: 0x1234,
    };
    expectFixture(wire, packet, 4);
  });

  it("3.1.1: a 200-byte payload needs a 2-byte remaining length", () => {
    const payload = new Uint8Array(200).map((_, i) => i);
    // 0x30, remaining length 203 = 0xcb 0x01, topic "t", payload
    const wire = bytes(0x30, 0xcb, 0x01, 0x00, 0x01, "t", payload);
    expectFixture(wire, { type: "publish", topic: "t", payload, qos: 0, retain: false, dup: false }, 4);
  });

  it("5.0: QoS 0 with an empty property block", () => {
    const wire = bytes(0x30, 0x05, 0x00, 0x01, "a", 0x00, "z"); // topic, property length 0, payload
    expectFixture(
      wire,
      { type: "publish", topic: "a", payload: text("z"), qos: 0, retain: false, dup: false },
      5,
    );
  });

  it("5.0: QoS 1 with message properties", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x32, 0x2f,                         // PUBLISH, QoS 1, remaining length 47
      0x00, 0x03, "s/1",                  // topic name
      0x00, 0x07,                         // packet identifier 7
      0x22,                               // property length 34
      0x01, 0x01,                         //   payload format indicator 1
      0x02, 0x00, 0x00, 0x00, 0x3c,       //   message expiry interval 60
      0x03, 0x00, 0x01, "c",              //   content type
      0x08, 0x00, 0x01, "r",              //   response topic
      0x09, 0x00, 0x01, 0xab,             //   correlation data
      0x0b, 0x01,                         //   subscription identifier 1
      0x0b, 0xac, 0x02,                   //   subscription identifier 300
      0x23, 0x00, 0x03,                   //   topic alias 3
      0x26, 0x00, 0x01, "x", 0x00, 0x01, "y", // user property x=y
      "hello",                            // payload
    );
    const packet: PublishPacket = {
      type: "publish",
      topic: "s/1",
      payload: text("hello"),
      qos: 1,
      retain: false,
      dup: false,
      messageId: 7,
      properties: {
        payloadFormatIndicator: true,
        messageExpiryInterval: 60,
        contentType: "c",
        responseTopic: "r",
        correlationData: bytes(0xab),
        subscriptionIdentifiers: [1, 300],
        topicAlias: 3,
        userProperties: [["x", "y"]],
      },
    };
    expectFixture(wire, packet, 5);
  });

  it("5.0: an empty topic name with a Topic Alias", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x30, 0x07,             // PUBLISH, QoS 0, remaining length 7
      0x00, 0x00,             // topic name: empty
      0x03, 0x23, 0x00, 0x02, // properties: topic alias 2
      "p",                    // payload
    );
    const packet: PublishPacket = {
      type: "publish",
      topic: "",
      payload: text("p"),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 2 },
    };
    expectFixture(wire, packet, 5);
  });
});

describe("PUBACK, PUBREC, PUBREL, PUBCOMP", () => {
  it.each([
    ["puback", 0x40],
    ["pubrec", 0x50],
    ["pubrel", 0x62], // PUBREL's fixed header flags are 0b0010
    ["pubcomp", 0x70],
  ] as const)("3.1.1: %s is the packet identifier only", (type, first) => {
    const wire = bytes(first, 0x02, 0x00, 0x01); // header, remaining length 2, packet identifier 1
    expectFixture(wire, { type, messageId: 1 }, 4);
  });

  it("5.0: reason code 0 and no properties: identifier only", () => {
    expectFixture(bytes(0x40, 0x02, 0xff, 0xff), { type: "puback", messageId: 0xffff, reasonCode: 0 }, 5);
  });

  it("5.0: a reason code without properties omits the property length", () => {
    // PUBREC, remaining length 3, packet identifier 2, reason 0x10 no matching subscribers
    expectFixture(bytes(0x50, 0x03, 0x00, 0x02, 0x10), { type: "pubrec", messageId: 2, reasonCode: 0x10 }, 5);
  });

  it("5.0: reason code and properties", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x62, 0x0b,             // PUBREL, remaining length 11
      0x00, 0x03,             // packet identifier 3
      0x92,                   // reason: packet identifier not found
      0x07,                   // property length 7
      0x1f, 0x00, 0x04, "gone", // reason string
    );
    const packet: PubackPacket = {
      type: "pubrel",
      messageId: 3,
      reasonCode: 0x92,
      properties: { reasonString: "gone" },
    };
    expectFixture(wire, packet, 5);
  });

  it("5.0: reason code 0 is written when there are properties", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x70, 0x0b,             // PUBCOMP, remaining length 11
      0x00, 0x04,             // packet identifier 4
      0x00,                   // reason: success
      0x07,                   // property length 7
      0x26, 0x00, 0x01, "k", 0x00, 0x01, "v", // user property k=v
    );
    const packet: PubackPacket = {
      type: "pubcomp",
      messageId: 4,
      reasonCode: 0,
      properties: { userProperties: [["k", "v"]] },
    };
    expectFixture(wire, packet, 5);
  });
});
