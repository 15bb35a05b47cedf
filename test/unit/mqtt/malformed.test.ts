import { describe, it } from "vitest";
import { decode, type ProtocolVersion } from "../../../src/mqtt/codec";
import { bytes, expectMalformed } from "./helpers";

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;

type Case = [rule: string, version: ProtocolVersion, wire: Uint8Array, reason: number];

/** CONNECT 3.1.1 with the given connect flags and payload after the client identifier "c". */
const connect4 = (flags: number, ...payload: (number | string)[]) => {
  const tail = bytes(0x00, 0x01, "c", ...payload);
  return bytes(0x10, 10 + tail.length, 0x00, 0x04, "MQTT", 0x04, flags, 0x00, 0x3c, tail);
};

const cases: Case[] = [
  // fixed header
  ["reserved packet type 0", 4, bytes(0x00, 0x00), MALFORMED],
  ["remaining length with a 5th byte", 4, bytes(0x30, 0xff, 0xff, 0xff, 0xff, 0x01), MALFORMED],
  ["[MQTT-1.5.5-1] remaining length not minimally encoded", 4, bytes(0xc0, 0x80, 0x00), MALFORMED],
  [
    "[MQTT-2.2.2-1/2] SUBSCRIBE with flags 0b0000",
    4,
    bytes(0x80, 0x06, 0x00, 0x01, 0x00, 0x01, "a", 0x00),
    MALFORMED,
  ],
  [
    "[MQTT-2.2.2-1/2] UNSUBSCRIBE with flags 0b0000",
    4,
    bytes(0xa0, 0x05, 0x00, 0x01, 0x00, 0x01, "a"),
    MALFORMED,
  ],
  ["[MQTT-2.2.2-1/2] PUBREL with flags 0b0000", 4, bytes(0x60, 0x02, 0x00, 0x01), MALFORMED],
  ["[MQTT-2.2.2-1/2] PUBACK with flags 0b0010", 5, bytes(0x42, 0x02, 0x00, 0x01), MALFORMED],
  ["[MQTT-2.2.2-1/2] PINGREQ with flags 0b0001", 4, bytes(0xc1, 0x00), MALFORMED],
  [
    "[MQTT-2.2.2-1/2] CONNECT with flags 0b1000",
    4,
    bytes(0x18, 0x0d, 0, 4, "MQTT", 4, 2, 0, 0, 0, 1, "c"),
    MALFORMED,
  ],
  ["[MQTT-2.2.2-1/2] DISCONNECT with flags 0b0001", 5, bytes(0xe1, 0x00), MALFORMED],
  // lengths
  ["PINGREQ with a body", 4, bytes(0xc0, 0x01, 0x00), MALFORMED],
  ["DISCONNECT 3.1.1 with a body", 4, bytes(0xe0, 0x01, 0x00), MALFORMED],
  ["PUBACK 3.1.1 longer than 2", 4, bytes(0x40, 0x03, 0x00, 0x01, 0x00), MALFORMED],
  ["UNSUBACK 3.1.1 with reason codes", 4, bytes(0xb0, 0x03, 0x00, 0x01, 0x00), MALFORMED],
  ["CONNACK 5.0 without a property length", 5, bytes(0x20, 0x02, 0x00, 0x00), MALFORMED],
  ["CONNECT with trailing bytes", 4, connect4(0x02, 0xff), MALFORMED],
  ["AUTH on 3.1.1 (reserved type 15)", 4, bytes(0xf0, 0x00), MALFORMED],
  // PUBLISH
  ["[MQTT-3.3.1-4] PUBLISH with QoS 3", 4, bytes(0x36, 0x05, 0x00, 0x01, "a", 0x00, 0x01), MALFORMED],
  ["[MQTT-3.3.1-2] PUBLISH QoS 0 with DUP", 4, bytes(0x38, 0x03, 0x00, 0x01, "a"), MALFORMED],
  ["PUBLISH QoS 1 without packet identifier", 4, bytes(0x32, 0x03, 0x00, 0x01, "a"), MALFORMED],
  [
    "[MQTT-2.2.1-3] PUBLISH QoS 1 with packet identifier 0",
    4,
    bytes(0x32, 0x05, 0x00, 0x01, "a", 0x00, 0x00),
    PROTOCOL_ERROR,
  ],
  ["[MQTT-3.3.2-2] PUBLISH topic with +", 4, bytes(0x30, 0x05, 0x00, 0x03, "a/+"), MALFORMED],
  ["[MQTT-3.3.2-2] PUBLISH topic with #", 5, bytes(0x30, 0x06, 0x00, 0x03, "a/#", 0x00), MALFORMED],
  ["[MQTT-4.7.3-1] PUBLISH 3.1.1 with an empty topic", 4, bytes(0x30, 0x02, 0x00, 0x00), PROTOCOL_ERROR],
  [
    "PUBLISH 5.0 with an empty topic and no Topic Alias",
    5,
    bytes(0x30, 0x03, 0x00, 0x00, 0x00),
    PROTOCOL_ERROR,
  ],
  [
    "[MQTT-1.5.4-1] PUBLISH topic with ill-formed UTF-8",
    4,
    bytes(0x30, 0x04, 0x00, 0x02, 0xc3, 0x28),
    MALFORMED,
  ],
  ["[MQTT-1.5.4-2] PUBLISH topic with U+0000", 4, bytes(0x30, 0x04, 0x00, 0x02, "a", 0x00), MALFORMED],
  ["PUBLISH topic length past the packet", 4, bytes(0x30, 0x04, 0x00, 0x09, "ab"), MALFORMED],
  [
    "PUBLISH property not allowed in PUBLISH",
    5,
    bytes(0x30, 0x06, 0x00, 0x01, "a", 0x02, 0x24, 0x01),
    MALFORMED,
  ],
  // CONNECT
  [
    "[MQTT-3.1.2-1] CONNECT with protocol name MQTX",
    4,
    bytes(0x10, 0x0d, 0, 4, "MQTX", 4, 2, 0, 0, 0, 1, "c"),
    PROTOCOL_ERROR,
  ],
  ["[MQTT-3.1.2-3] CONNECT reserved flag set", 4, connect4(0x03), MALFORMED],
  ["[MQTT-3.1.2-13] CONNECT Will QoS 1 without Will Flag", 4, connect4(0x0a), MALFORMED],
  ["[MQTT-3.1.2-13] CONNECT Will QoS 2 without Will Flag", 4, connect4(0x12), MALFORMED],
  ["[MQTT-3.1.2-15] CONNECT Will Retain without Will Flag", 4, connect4(0x22), MALFORMED],
  ["[MQTT-3.1.2-14] CONNECT Will QoS 3", 4, connect4(0x1e, 0x00, 0x01, "t", 0x00, 0x00), MALFORMED],
  [
    "[MQTT-3.1.2-22] CONNECT 3.1.1 password without user name",
    4,
    connect4(0x42, 0x00, 0x01, 0x70),
    MALFORMED,
  ],
  ["CONNECT will flag without will topic", 4, connect4(0x06), MALFORMED],
  ["CONNECT user name flag without user name", 4, connect4(0x82), MALFORMED],
  [
    "[MQTT-1.5.4-2] CONNECT client identifier with U+0000",
    4,
    connect4(0x02).map((b, i) => (i === 14 ? 0 : b)),
    MALFORMED,
  ],
  // SUBSCRIBE / UNSUBSCRIBE
  ["[MQTT-3.8.3-3] SUBSCRIBE 3.1.1 without topic filter", 4, bytes(0x82, 0x02, 0x00, 0x01), PROTOCOL_ERROR],
  [
    "[MQTT-3.8.3-3] SUBSCRIBE 5.0 without topic filter",
    5,
    bytes(0x82, 0x03, 0x00, 0x01, 0x00),
    PROTOCOL_ERROR,
  ],
  [
    "SUBSCRIBE topic filter without options byte",
    4,
    bytes(0x82, 0x05, 0x00, 0x01, 0x00, 0x01, "a"),
    MALFORMED,
  ],
  [
    "[MQTT-3-8.3-4] SUBSCRIBE 3.1.1 reserved option bits",
    4,
    bytes(0x82, 0x06, 0, 1, 0, 1, "a", 0x04),
    MALFORMED,
  ],
  ["[MQTT-3-8.3-4] SUBSCRIBE 3.1.1 QoS 3", 4, bytes(0x82, 0x06, 0, 1, 0, 1, "a", 0x03), MALFORMED],
  [
    "[MQTT-3.8.3-5] SUBSCRIBE 5.0 reserved option bits",
    5,
    bytes(0x82, 0x07, 0, 1, 0, 0, 1, "a", 0x40),
    MALFORMED,
  ],
  ["SUBSCRIBE 5.0 Maximum QoS 3", 5, bytes(0x82, 0x07, 0, 1, 0, 0, 1, "a", 0x03), PROTOCOL_ERROR],
  ["SUBSCRIBE 5.0 Retain Handling 3", 5, bytes(0x82, 0x07, 0, 1, 0, 0, 1, "a", 0x30), PROTOCOL_ERROR],
  [
    "[MQTT-3.8.3-4] SUBSCRIBE 5.0 No Local on a shared subscription",
    5,
    bytes(0x82, 0x10, 0, 1, 0, 0, 10, "$share/g/a", 0x04),
    PROTOCOL_ERROR,
  ],
  [
    "[MQTT-2.2.1-3] SUBSCRIBE with packet identifier 0",
    4,
    bytes(0x82, 0x06, 0, 0, 0, 1, "a", 0x00),
    PROTOCOL_ERROR,
  ],
  ["[MQTT-3.10.3-2] UNSUBSCRIBE without topic filter", 4, bytes(0xa2, 0x02, 0x00, 0x01), PROTOCOL_ERROR],
  // reason codes
  ["CONNACK reserved acknowledge flags", 4, bytes(0x20, 0x02, 0x02, 0x00), MALFORMED],
  ["CONNACK 3.1.1 return code 6", 4, bytes(0x20, 0x02, 0x00, 0x06), PROTOCOL_ERROR],
  ["PUBACK 5.0 reason 0x92", 5, bytes(0x40, 0x03, 0x00, 0x01, 0x92), PROTOCOL_ERROR],
  ["PUBREL 5.0 reason 0x10", 5, bytes(0x62, 0x03, 0x00, 0x01, 0x10), PROTOCOL_ERROR],
  ["[MQTT-3.9.3-2] SUBACK 3.1.1 return code 3", 4, bytes(0x90, 0x03, 0x00, 0x01, 0x03), PROTOCOL_ERROR],
  ["SUBACK without return codes", 4, bytes(0x90, 0x02, 0x00, 0x01), PROTOCOL_ERROR],
  ["UNSUBACK 5.0 without reason codes", 5, bytes(0xb0, 0x03, 0x00, 0x01, 0x00), PROTOCOL_ERROR],
  ["DISCONNECT 5.0 reason 0x05", 5, bytes(0xe0, 0x01, 0x05), PROTOCOL_ERROR],
  ["AUTH reason 0x01", 5, bytes(0xf0, 0x02, 0x01, 0x00), PROTOCOL_ERROR],
  // properties inside packets
  [
    "DISCONNECT 5.0 duplicate Reason String",
    5,
    bytes(0xe0, 0x0a, 0x00, 0x08, 0x1f, 0, 1, "a", 0x1f, 0, 1, "b"),
    PROTOCOL_ERROR,
  ],
  ["PUBACK 5.0 property length past the packet", 5, bytes(0x40, 0x04, 0x00, 0x01, 0x00, 0x05), MALFORMED],
];

describe("malformed input is refused with its reason code", () => {
  it.each(cases)("%s", (_, version, wire, reason) => {
    expectMalformed(() => decode(wire, version), reason);
  });
});
