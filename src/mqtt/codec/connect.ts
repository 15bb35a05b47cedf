import { frame, requireFlags } from "./common";
import { malformed, protocolError, UnsupportedProtocolVersion } from "./errors";
import { decodeProperties, encodeProperties } from "./properties";
import { type Reader, Writer } from "./reader";
import type { ConnectPacket, ProtocolVersion, QoS, Will } from "./types";

const USERNAME = 0x80;
const PASSWORD = 0x40;
const WILL_RETAIN = 0x20;
const WILL_QOS_SHIFT = 3;
const WILL_FLAG = 0x04;
const CLEAN = 0x02;
const RESERVED = 0x01;

/**
 * Decodes a CONNECT body. The protocol version comes from the packet itself; `_version` is
 * ignored. A protocol name / level other than "MQTT" 4 or 5 throws UnsupportedProtocolVersion
 * (carrying the parsed level) so the caller can answer with the right CONNACK.
 */
export function decodeConnect(flags: number, r: Reader, _version?: ProtocolVersion): ConnectPacket {
  requireFlags(flags, 0, "CONNECT");
  const name = r.utf8("protocol name");
  if (name !== "MQTT" && name !== "MQIsdp") throw protocolError(`CONNECT: protocol name "${name}"`); // [MQTT-3.1.2-1]
  const level = r.u8("protocol level");
  if (name !== "MQTT" || (level !== 4 && level !== 5)) throw new UnsupportedProtocolVersion(name, level); // [MQTT-3.1.2-2]
  const version: ProtocolVersion = level;
  const connectFlags = r.u8("connect flags");
  if (connectFlags & RESERVED) throw malformed("CONNECT: reserved flag is not 0"); // [MQTT-3.1.2-3]
  const hasWill = (connectFlags & WILL_FLAG) !== 0;
  const willQos = (connectFlags >> WILL_QOS_SHIFT) & 3;
  const willRetain = (connectFlags & WILL_RETAIN) !== 0;
  if (!hasWill && willQos !== 0) throw malformed("CONNECT: Will QoS without Will Flag"); // [MQTT-3.1.2-13] (5.0: [MQTT-3.1.2-11])
  if (!hasWill && willRetain) throw malformed("CONNECT: Will Retain without Will Flag"); // [MQTT-3.1.2-15] (5.0: [MQTT-3.1.2-13])
  if (willQos === 3) throw malformed("CONNECT: Will QoS 3"); // [MQTT-3.1.2-14] (5.0: [MQTT-3.1.2-12])
  const hasUsername = (connectFlags & USERNAME) !== 0;
  const hasPassword = (connectFlags & PASSWORD) !== 0;
  if (version === 4 && hasPassword && !hasUsername) throw malformed("CONNECT: password without user name"); // [MQTT-3.1.2-22]

  const packet: ConnectPacket = {
    type: "connect",
    protocolVersion: version,
    clientId: "",
    clean: (connectFlags & CLEAN) !== 0,
    keepalive: r.u16("keep alive"),
  };
  if (version === 5) {
    const properties = decodeProperties(r, "connect");
    if (properties) packet.properties = properties;
  }
  packet.clientId = r.utf8("client identifier"); // [MQTT-3.1.3-3]
  if (hasWill) {
    const properties = version === 5 ? decodeProperties(r, "will") : undefined;
    const will: Will = {
      topic: r.utf8("will topic"),
      payload: r.binary("will payload"),
      qos: willQos as QoS,
      retain: willRetain,
    };
    if (properties) will.properties = properties;
    packet.will = will;
  }
  if (hasUsername) packet.username = r.utf8("user name");
  if (hasPassword) packet.password = r.binary("password");
  r.finish("CONNECT");
  return packet;
}

/** Encodes a CONNECT; the protocol level is `packet.protocolVersion`. */
export function encodeConnect(packet: ConnectPacket, _version?: ProtocolVersion): Uint8Array {
  const version = packet.protocolVersion;
  const { will } = packet;
  if (version === 4 && packet.password !== undefined && packet.username === undefined) {
    throw new RangeError("CONNECT: MQTT 3.1.1 needs a user name to send a password"); // [MQTT-3.1.2-22]
  }
  let flags = packet.clean ? CLEAN : 0;
  if (will) flags |= WILL_FLAG | (will.qos << WILL_QOS_SHIFT) | (will.retain ? WILL_RETAIN : 0);
  if (packet.username !== undefined) flags |= USERNAME;
  if (packet.password !== undefined) flags |= PASSWORD;

  const w = new Writer().utf8("MQTT").u8(version).u8(flags).u16(packet.keepalive);
  if (version === 5) encodeProperties(w, packet.properties);
  w.utf8(packet.clientId);
  if (will) {
    if (version === 5) encodeProperties(w, will.properties);
    w.utf8(will.topic).binary(will.payload);
  }
  if (packet.username !== undefined) w.utf8(packet.username);
  if (packet.password !== undefined) w.binary(packet.password);
  return frame(1, 0, w);
}
