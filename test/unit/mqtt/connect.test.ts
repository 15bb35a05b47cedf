import { describe, expect, it } from "vitest";
import {
  type ConnackPacket,
  type ConnectPacket,
  decode,
  UnsupportedProtocolVersion,
} from "../../../src/mqtt/codec";
import { bytes, expectFixture, expectMalformed, text } from "./helpers";

describe("CONNECT", () => {
  it("3.1.1: minimal (clean session, keep alive 60)", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x10, 0x0e,             // CONNECT, remaining length 14
      0x00, 0x04, "MQTT",     // protocol name
      0x04,                   // protocol level 4 (3.1.1)
      0x02,                   // flags: clean session
      0x00, 0x3c,             // keep alive 60
      0x00, 0x02, "c1",       // client identifier
    );
    const packet: ConnectPacket = {
      type: "connect",
      protocolVersion: 4,
      clientId: "c1",
      clean: true,
      keepalive: 60,
    };
    expectFixture(wire, packet, 4);
  });

  it("3.1.1: will, user name and password", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x10, 0x23,             // CONNECT, remaining length 35
      0x00, 0x04, "MQTT",     // protocol name
      0x04,                   // protocol level 4
      0xee,                   // flags: user name, password, will retain, will QoS 1, will, clean
      0x00, 0x1e,             // keep alive 30
      0x00, 0x02, "c1",       // client identifier
      0x00, 0x03, "w/t",      // will topic
      0x00, 0x03, "bye",      // will payload
      0x00, 0x04, "user",     // user name
      0x00, 0x03, 1, 2, 3,    // password (binary)
    );
    const packet: ConnectPacket = {
      type: "connect",
      protocolVersion: 4,
      clientId: "c1",
      clean: true,
      keepalive: 30,
      will: { topic: "w/t", payload: text("bye"), qos: 1, retain: true },
      username: "user",
      password: bytes(1, 2, 3),
    };
    expectFixture(wire, packet, 4);
  });

  it("3.1.1: an empty client identifier is accepted by the codec", () => {
    const wire = bytes(0x10, 0x0c, 0x00, 0x04, "MQTT", 0x04, 0x02, 0x00, 0x00, 0x00, 0x00);
    expectFixture(wire, { type: "connect", protocolVersion: 4, clientId: "", clean: true, keepalive: 0 }, 4);
  });

  it("5.0: properties, will properties, and a password without user name", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x10, 0x3c,                         // CONNECT, remaining length 60
      0x00, 0x04, "MQTT",                 // protocol name
      0x05,                               // protocol level 5
      0x54,                               // flags: password, will QoS 2, will (clean start 0)
      0x00, 0x0a,                         // keep alive 10
      0x0f,                               // property length 15
      0x11, 0x00, 0x00, 0x00, 0x78,       //   session expiry interval 120
      0x21, 0x00, 0x14,                   //   receive maximum 20
      0x26, 0x00, 0x01, "a", 0x00, 0x01, "b", // user property a=b
      0x00, 0x02, "c5",                   // client identifier
      0x14,                               // will property length 20
      0x01, 0x01,                         //   payload format indicator 1
      0x03, 0x00, 0x0a, "text/plain",     //   content type
      0x18, 0x00, 0x00, 0x00, 0x1e,       //   will delay interval 30
      0x00, 0x01, "t",                    // will topic
      0x00, 0x01, "x",                    // will payload
      0x00, 0x01, 0x09,                   // password
    );
    const packet: ConnectPacket = {
      type: "connect",
      protocolVersion: 5,
      clientId: "c5",
      clean: false,
      keepalive: 10,
      properties: { sessionExpiryInterval: 120, receiveMaximum: 20, userProperties: [["a", "b"]] },
      will: {
        topic: "t",
        payload: text("x"),
        qos: 2,
        retain: false,
        properties: { payloadFormatIndicator: true, contentType: "text/plain", willDelayInterval: 30 },
      },
      password: bytes(9),
    };
    expectFixture(wire, packet, 5);
    expectFixture(wire, packet, 4); // a CONNECT carries its own version
  });

  it.each([
    ["MQIsdp", 3],
    ["MQTT", 3],
    ["MQTT", 6],
    ["MQTT", 0x84],
    ["MQIsdp", 4],
  ])("[MQTT-3.1.2-2] %s level %i is refused with the parsed level (reason 0x84)", (name, level) => {
    const wire = bytes(0x10, 8 + name.length, 0x00, name.length, name, level, 0x02, 0x00, 0x3c, 0x00, 0x00);
    const error = expectMalformed(() => decode(wire, 4), 0x84);
    expect(error).toBeInstanceOf(UnsupportedProtocolVersion);
    expect(error).toMatchObject({ protocolName: name, protocolLevel: level });
  });
});

describe("CONNACK", () => {
  it.each([
    ["accepted", [0x00, 0x00], { sessionPresent: false, reasonCode: 0 }],
    ["accepted, session present", [0x01, 0x00], { sessionPresent: true, reasonCode: 0 }],
    ["refused: not authorized (5)", [0x00, 0x05], { sessionPresent: false, reasonCode: 5 }],
    ["refused: unacceptable protocol version (1)", [0x00, 0x01], { sessionPresent: false, reasonCode: 1 }],
  ])("3.1.1: %s", (_, body, fields) => {
    const wire = bytes(0x20, 0x02, body); // CONNACK, remaining length 2, ack flags, return code
    expectFixture(wire, { type: "connack", ...fields }, 4);
  });

  it("5.0: with properties", () => {
    // biome-ignore format: annotated bytes
    const wire = bytes(
      0x20, 0x19,                         // CONNACK, remaining length 25
      0x00,                               // acknowledge flags: no session present
      0x00,                               // reason code: success
      0x16,                               // property length 22
      0x12, 0x00, 0x06, "auto-1",         //   assigned client identifier
      0x13, 0x00, 0x1e,                   //   server keep alive 30
      0x21, 0x00, 0x64,                   //   receive maximum 100
      0x22, 0x00, 0x0a,                   //   topic alias maximum 10
      0x24, 0x01,                         //   maximum QoS 1
      0x25, 0x00,                         //   retain available 0
    );
    const packet: ConnackPacket = {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: {
        assignedClientIdentifier: "auto-1",
        serverKeepAlive: 30,
        receiveMaximum: 100,
        topicAliasMaximum: 10,
        maximumQoS: 1,
        retainAvailable: false,
      },
    };
    expectFixture(wire, packet, 5);
  });

  it("5.0: refused, no properties", () => {
    const wire = bytes(0x20, 0x03, 0x00, 0x87, 0x00); // not authorized, property length 0
    expectFixture(wire, { type: "connack", sessionPresent: false, reasonCode: 0x87 }, 5);
  });
});

describe("UnsupportedProtocolVersion.connack", () => {
  it("answers 3.1 / 3.1.1-level clients with return code 1, later levels with reason 0x84", () => {
    expect(new UnsupportedProtocolVersion("MQIsdp", 3).connack()).toEqual({
      packet: { type: "connack", sessionPresent: false, reasonCode: 0x01 },
      version: 4,
    });
    expect(new UnsupportedProtocolVersion("MQTT", 6).connack()).toEqual({
      packet: { type: "connack", sessionPresent: false, reasonCode: 0x84 },
      version: 5,
    });
  });
});
