import { describe, expect, it } from "vitest";
import { Reader, Writer } from "../../../src/mqtt/codec";
import { decodeProperties, encodeProperties, PROPERTIES } from "../../../src/mqtt/codec/properties";
import type { Properties } from "../../../src/mqtt/codec/types";
import { bytes, expectMalformed } from "./helpers";

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;

// biome-ignore format: annotated bytes
const ALL = bytes(
  0x6c,                                  // property length 108
  0x01, 0x01,                            // payload format indicator: 1 (UTF-8)
  0x02, 0x00, 0x00, 0x0e, 0x10,          // message expiry interval: 3600
  0x03, 0x00, 0x04, "json",              // content type
  0x08, 0x00, 0x03, "r/t",               // response topic
  0x09, 0x00, 0x02, 0xca, 0xfe,          // correlation data
  0x0b, 0x80, 0x01,                      // subscription identifier: 128 (2-byte varint)
  0x11, 0xff, 0xff, 0xff, 0xff,          // session expiry interval: 4294967295
  0x12, 0x00, 0x02, "id",                // assigned client identifier
  0x13, 0x00, 0x3c,                      // server keep alive: 60
  0x15, 0x00, 0x05, "SCRAM",             // authentication method
  0x16, 0x00, 0x01, 0x07,                // authentication data
  0x17, 0x00,                            // request problem information: 0
  0x18, 0x00, 0x00, 0x00, 0x05,          // will delay interval: 5
  0x19, 0x01,                            // request response information: 1
  0x1a, 0x00, 0x02, "ri",                // response information
  0x1c, 0x00, 0x02, "sr",                // server reference
  0x1f, 0x00, 0x02, "ok",                // reason string
  0x21, 0x00, 0x0a,                      // receive maximum: 10
  0x22, 0x00, 0x05,                      // topic alias maximum: 5
  0x23, 0x00, 0x01,                      // topic alias: 1
  0x24, 0x01,                            // maximum QoS: 1
  0x25, 0x00,                            // retain available: 0
  0x26, 0x00, 0x01, "k", 0x00, 0x01, "v", // user property k=v
  0x27, 0x00, 0x00, 0x10, 0x00,          // maximum packet size: 4096
  0x28, 0x01,                            // wildcard subscription available: 1
  0x29, 0x00,                            // subscription identifiers available: 0
  0x2a, 0x01,                            // shared subscription available: 1
);

const ALL_DECODED: Properties = {
  payloadFormatIndicator: true,
  messageExpiryInterval: 3600,
  contentType: "json",
  responseTopic: "r/t",
  correlationData: bytes(0xca, 0xfe),
  subscriptionIdentifiers: [128],
  sessionExpiryInterval: 0xffff_ffff,
  assignedClientIdentifier: "id",
  serverKeepAlive: 60,
  authenticationMethod: "SCRAM",
  authenticationData: bytes(7),
  requestProblemInformation: false,
  willDelayInterval: 5,
  requestResponseInformation: true,
  responseInformation: "ri",
  serverReference: "sr",
  reasonString: "ok",
  receiveMaximum: 10,
  topicAliasMaximum: 5,
  topicAlias: 1,
  maximumQoS: 1,
  retainAvailable: false,
  userProperties: [["k", "v"]],
  maximumPacketSize: 4096,
  wildcardSubscriptionAvailable: true,
  subscriptionIdentifiersAvailable: false,
  sharedSubscriptionAvailable: true,
};

const encoded = (props: Properties | undefined) => {
  const w = new Writer();
  encodeProperties(w, props);
  return w.view();
};

describe("MQTT 5.0 properties (2.2.2)", () => {
  it("the table has all 27 identifiers, 0x01 to 0x2A", () => {
    expect(PROPERTIES.map((p) => p.id)).toEqual([
      0x01, 0x02, 0x03, 0x08, 0x09, 0x0b, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1c, 0x1f,
      0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a,
    ]);
  });

  it("decodes every property with its data type, and encodes it back byte for byte", () => {
    const r = new Reader(ALL);
    expect(decodeProperties(r)).toEqual(ALL_DECODED);
    expect(r.remaining).toBe(0);
    expect(encoded(ALL_DECODED)).toEqual(ALL);
  });

  it("an empty block is a single 0 and decodes to undefined", () => {
    expect(encoded(undefined)).toEqual(bytes(0x00));
    expect(encoded({})).toEqual(bytes(0x00));
    expect(decodeProperties(new Reader(bytes(0x00)))).toBeUndefined();
  });

  it("User Property may repeat, in order, names included", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x14,                                         // property length 20
      0x26, 0x00, 0x01, "a", 0x00, 0x01, "1",       // a=1
      0x26, 0x00, 0x01, "b", 0x00, 0x01, "2",       // b=2
      0x26, 0x00, 0x01, "a", 0x00, 0x00,            // a=""
    );
    const props = {
      userProperties: [
        ["a", "1"],
        ["b", "2"],
        ["a", ""],
      ],
    } satisfies Properties;
    expect(decodeProperties(new Reader(wire), "publish")).toEqual(props);
    expect(encoded(props)).toEqual(wire);
  });

  it("a PUBLISH may carry several Subscription Identifiers", () => {
    const wire = bytes(0x04, 0x0b, 0x01, 0x0b, 0x02); // two identifiers: 1, 2
    expect(decodeProperties(new Reader(wire), "publish")).toEqual({ subscriptionIdentifiers: [1, 2] });
  });

  it("a SUBSCRIBE may not: a second Subscription Identifier is a Protocol Error", () => {
    expectMalformed(
      () => decodeProperties(new Reader(bytes(0x04, 0x0b, 0x01, 0x0b, 0x02)), "subscribe"),
      PROTOCOL_ERROR,
    );
  });

  it.each([
    ["Session Expiry Interval", [0x0a, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2]],
    ["Reason String", [0x08, 0x1f, 0x00, 0x01, 0x61, 0x1f, 0x00, 0x01, 0x62]],
    ["Receive Maximum", [0x06, 0x21, 0x00, 0x01, 0x21, 0x00, 0x02]],
    ["Topic Alias", [0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02]],
  ])("including %s twice is a Protocol Error", (_, wire) => {
    expectMalformed(() => decodeProperties(new Reader(bytes(wire))), PROTOCOL_ERROR);
  });

  it.each([
    ["Receive Maximum 0", [0x03, 0x21, 0x00, 0x00]],
    ["Maximum Packet Size 0", [0x05, 0x27, 0x00, 0x00, 0x00, 0x00]],
    ["Topic Alias 0 [MQTT-3.3.2-8]", [0x03, 0x23, 0x00, 0x00]],
    ["Subscription Identifier 0", [0x02, 0x0b, 0x00]],
    ["Maximum QoS 2", [0x02, 0x24, 0x02]],
    ["Request Problem Information 2", [0x02, 0x17, 0x02]],
    ["Payload Format Indicator 2", [0x02, 0x01, 0x02]],
    ["Retain Available 5", [0x02, 0x25, 0x05]],
    ["Authentication Data without Authentication Method", [0x04, 0x16, 0x00, 0x01, 0x07]],
  ])("%s is a Protocol Error", (_, wire) => {
    expectMalformed(() => decodeProperties(new Reader(bytes(wire))), PROTOCOL_ERROR);
  });

  it.each([
    ["an unknown identifier 0x04", [0x02, 0x04, 0x00]],
    ["identifier 0x00", [0x02, 0x00, 0x00]],
    ["a property length past the packet", [0x05, 0x01, 0x01]],
    ["a value cut by the property length", [0x02, 0x13, 0x00, 0x00]],
    ["a string past the property length", [0x03, 0x03, 0x00, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65]],
  ])("%s is malformed", (_, wire) => {
    expectMalformed(() => decodeProperties(new Reader(bytes(wire))), MALFORMED);
  });

  it.each([
    ["Topic Alias in CONNECT", "connect", [0x03, 0x23, 0x00, 0x01]],
    ["Will Delay Interval in PUBLISH", "publish", [0x05, 0x18, 0, 0, 0, 1]],
    ["Session Expiry Interval in the Will Properties", "will", [0x05, 0x11, 0, 0, 0, 1]],
    ["Reason String in SUBSCRIBE", "subscribe", [0x04, 0x1f, 0x00, 0x01, 0x61]],
    ["Maximum QoS in CONNECT", "connect", [0x02, 0x24, 0x01]],
    ["Subscription Identifier in SUBACK", "suback", [0x02, 0x0b, 0x01]],
  ] as const)("%s is malformed (identifier not valid for the packet, 2.2.2.2)", (_, context, wire) => {
    expectMalformed(() => decodeProperties(new Reader(bytes(wire)), context), MALFORMED);
  });
});
