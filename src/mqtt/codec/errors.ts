import type { ConnackPacket, ProtocolVersion } from "./types";

/** MQTT 5 reason codes the codec reports. */
export const ReasonCode = {
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  UnsupportedProtocolVersion: 0x84,
  PacketTooLarge: 0x95,
} as const;

/**
 * Bad input on the wire. `reason` is the MQTT 5 reason code to close the connection with
 * (0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet too large). On MQTT 3.1.1 the
 * connection is simply closed.
 */
export class MalformedPacket extends Error {
  constructor(
    readonly reason: number,
    message: string,
  ) {
    super(message);
    this.name = "MalformedPacket";
  }
}

/**
 * A CONNECT whose protocol name / level this codec does not speak (e.g. "MQIsdp" level 3).
 * The caller answers with a CONNACK: return code 0x01 on level ≤ 4, reason 0x84 on level ≥ 5,
 * then closes the connection [MQTT-3.1.2-2].
 */
export class UnsupportedProtocolVersion extends MalformedPacket {
  constructor(
    readonly protocolName: string,
    readonly protocolLevel: number,
  ) {
    super(
      ReasonCode.UnsupportedProtocolVersion,
      `unsupported protocol ${protocolName} level ${protocolLevel}`,
    );
    this.name = "UnsupportedProtocolVersion";
  }

  /**
   * The refusal to send before closing: a 3.1.1-format CONNACK with return code 0x01 for levels
   * below 5 (3.1 clients read that format too), else a 5.0 CONNACK with reason 0x84.
   */
  connack(): { packet: ConnackPacket; version: ProtocolVersion } {
    return this.protocolLevel < 5
      ? { packet: { type: "connack", sessionPresent: false, reasonCode: 0x01 }, version: 4 } // [MQTT-3.1.2-2] (3.1.1)
      : { packet: { type: "connack", sessionPresent: false, reasonCode: 0x84 }, version: 5 }; // [MQTT-3.1.2-2] (5.0)
  }
}

/** Shorthand: a Malformed Packet (0x81). */
export const malformed = (message: string) => new MalformedPacket(ReasonCode.MalformedPacket, message);

/** Shorthand: a Protocol Error (0x82). */
export const protocolError = (message: string) => new MalformedPacket(ReasonCode.ProtocolError, message);
