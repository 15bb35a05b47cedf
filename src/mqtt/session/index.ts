import type { DisconnectPacket, Packet } from "../codec/types";
import { handleConnect } from "./connect";
import { admit, type Rate } from "./limits";
import { handlePublish, handlePubrel } from "./publish";
import { type ConnState, type Ctx, ProtocolViolation, RC, type Result, SERVER } from "./state";
import { handleSubscribe, handleUnsubscribe } from "./subscribe";

export { announcedLevel } from "./connect";
export * from "./keepalive";
export { admit, type Rate } from "./limits";
export { parseStatus } from "./publish";
export * from "./state";

/** WebSocket close codes: 1000 normal, 1002 protocol error, 1008 policy violation. */
const closeFor = (reason: number) => (reason === RC.NotAuthorized ? 1008 : reason < 0x80 ? 1000 : 1002);

/** Ends the connection for a violation: MQTT 5 gets a DISCONNECT with the reason first [MQTT-4.13.1-1]. */
export const violation = (conn: ConnState, reason: number, text: string): Result => {
  const out: DisconnectPacket[] =
    conn.version === 5 && conn.phase === "connected"
      ? [
          {
            type: "disconnect",
            reasonCode: reason,
            properties: conn.problemInfo ? { reasonString: text } : undefined,
          },
        ]
      : [];
  return {
    conn: { ...conn, phase: "closed" },
    out,
    effects: [{ type: "disconnect", sendWill: true }],
    close: { code: closeFor(reason), reason: text.slice(0, 120) },
  };
};

/** Over a per-connection rate: the connection ends with 0x96 Message rate too high. */
const limited = (tat: number | undefined, now: number, rate: Rate, what: string): number => {
  const next = admit(tat, now, rate);
  if (next === null) {
    throw new ProtocolViolation(RC.MessageRateTooHigh, `more than ${rate.perSecond} ${what} per second`);
  }
  return next;
};

/**
 * The packet dispatcher: CONNECT first and once, then one handler per packet type. Pure:
 * everything it needs from stored state comes through `ctx`.
 */
export const handlePacket = (conn: ConnState, packet: Packet, ctx: Ctx): Result => {
  try {
    if (conn.phase === "awaiting-connect") {
      // [MQTT-3.1.0-1] the first packet must be CONNECT.
      if (packet.type !== "connect")
        return violation(conn, RC.ProtocolError, "the first packet must be CONNECT");
      return handleConnect(conn, packet, ctx);
    }
    if (conn.phase === "closed") return { conn, out: [], effects: [] };
    switch (packet.type) {
      case "connect": // [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
        return violation(conn, RC.ProtocolError, "second CONNECT");
      case "publish": {
        const pubTat = limited(conn.pubTat, ctx.now, SERVER.publishRate, "PUBLISH");
        return handlePublish({ ...conn, pubTat }, packet, ctx);
      }
      case "puback":
      case "pubrec":
      case "pubcomp":
        return {
          conn,
          out: [],
          effects: [{ type: "acked", kind: packet.type, messageId: packet.messageId }],
        };
      case "pubrel":
        return handlePubrel(conn, packet.messageId, ctx);
      case "subscribe": {
        const subTat = limited(conn.subTat, ctx.now, SERVER.subscribeRate, "SUBSCRIBE and UNSUBSCRIBE");
        return handleSubscribe({ ...conn, subTat }, packet, ctx);
      }
      case "unsubscribe": {
        const subTat = limited(conn.subTat, ctx.now, SERVER.subscribeRate, "SUBSCRIBE and UNSUBSCRIBE");
        return handleUnsubscribe({ ...conn, subTat }, packet, (f) => ctx.hasSubscription?.(f) ?? true);
      }
      case "pingreq": // [MQTT-3.12.4-1]
        return { conn, out: [{ type: "pingresp" }], effects: [] };
      case "disconnect": {
        // [MQTT-3.14.4-3] a normal DISCONNECT discards the Will; 5.0 reason 0x04 asks to send it.
        const sendWill = conn.version === 5 && packet.reasonCode === RC.DisconnectWithWill;
        const expiry = packet.properties?.sessionExpiryInterval;
        return {
          conn: { ...conn, phase: "closed" },
          out: [],
          effects: [{ type: "disconnect", sendWill, expiry }],
          close: { code: 1000, reason: "disconnect" },
        };
      }
      case "auth":
        return violation(conn, RC.ProtocolError, "AUTH without an authentication method");
      default: // CONNACK, SUBACK, UNSUBACK, PINGRESP only go server → client.
        return violation(conn, RC.ProtocolError, `unexpected ${packet.type} from a client`);
    }
  } catch (err) {
    if (err instanceof ProtocolViolation) return violation(conn, err.reason, err.message);
    throw err;
  }
};
