import mqttPacket from "mqtt-packet";
import type { Packet, Properties, ProtocolVersion, UserProperty } from "../../../src/mqtt/codec";

/** Node's Buffer (the tests run under Node; the codec itself never touches it). */
const NodeBuffer = (globalThis as unknown as { Buffer: { from(data: Uint8Array): Uint8Array } }).Buffer;

// mqtt-packet's objects are loosely typed; this helper only moves fields between the two shapes.
// biome-ignore lint/suspicious/noExplicitAny: mqtt-packet's packet objects
type Loose = Record<string, any>;

const buf = (data: Uint8Array | undefined) => (data === undefined ? undefined : NodeBuffer.from(data));
const drop = (o: Loose): Loose => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** Our properties → mqtt-packet's: user properties grouped by name, binaries as Buffers. */
function propsToTheirs(props: Properties | undefined): Loose | undefined {
  if (!props) return undefined;
  const out: Loose = { ...props, subscriptionIdentifiers: undefined, userProperties: undefined };
  if (props.correlationData) out.correlationData = buf(props.correlationData);
  if (props.authenticationData) out.authenticationData = buf(props.authenticationData);
  const ids = props.subscriptionIdentifiers;
  if (ids) out.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids;
  if (props.userProperties) {
    const grouped: Record<string, string | string[]> = {};
    for (const [name, value] of props.userProperties) {
      const seen = grouped[name];
      grouped[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
    }
    out.userProperties = grouped;
  }
  return drop(out);
}

/** mqtt-packet's properties → ours. */
function propsFromTheirs(props: Loose | undefined): Properties | undefined {
  if (!props) return undefined;
  const { subscriptionIdentifier, userProperties, ...rest } = props;
  const out: Loose = { ...rest };
  if (subscriptionIdentifier !== undefined) out.subscriptionIdentifiers = [subscriptionIdentifier].flat();
  if (userProperties) {
    out.userProperties = Object.entries(userProperties as Record<string, string | string[]>).flatMap(
      ([name, values]) => [values].flat().map((value): UserProperty => [name, value]),
    );
  }
  return out as Properties;
}

/** Our packet → the object mqtt-packet's `generate` takes. */
export function toTheirs(p: Packet, version: ProtocolVersion): Loose {
  const properties = propsToTheirs("properties" in p ? p.properties : undefined);
  switch (p.type) {
    case "connect": {
      const will = p.will && {
        ...p.will,
        payload: buf(p.will.payload),
        properties: propsToTheirs(p.will.properties),
      };
      return drop({ ...p, cmd: "connect", protocolId: "MQTT", password: buf(p.password), will, properties });
    }
    case "connack":
      return drop({
        cmd: "connack",
        sessionPresent: p.sessionPresent,
        [version === 5 ? "reasonCode" : "returnCode"]: p.reasonCode,
        properties,
      });
    case "publish":
      return drop({ ...p, cmd: "publish", payload: buf(p.payload), properties });
    case "subscribe":
      return drop({
        cmd: "subscribe",
        messageId: p.messageId,
        properties,
        subscriptions: p.subscriptions.map((s) =>
          drop({ topic: s.topic, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling }),
        ),
      });
    default:
      return drop({ ...p, cmd: p.type, properties });
  }
}

/** An mqtt-packet parse result → our packet, keeping only the fields our shape has. */
export function fromTheirs(t: Loose, version: ProtocolVersion): Packet {
  const v5 = version === 5;
  const properties = propsFromTheirs(t.properties);
  const cmd = t.cmd as Packet["type"];
  const u8 = (data: Uint8Array | undefined) => (data === undefined ? undefined : Uint8Array.from(data));
  switch (cmd) {
    case "connect": {
      const will = t.will && {
        topic: t.will.topic,
        payload: u8(t.will.payload),
        qos: t.will.qos,
        retain: t.will.retain,
        properties: propsFromTheirs(t.will.properties),
      };
      const { clientId, clean, keepalive, username, protocolVersion } = t;
      return drop({
        type: cmd,
        protocolVersion,
        clientId,
        clean,
        keepalive,
        username,
        password: u8(t.password),
        will,
        properties,
      }) as Packet;
    }
    case "connack":
      return drop({
        type: cmd,
        sessionPresent: t.sessionPresent,
        reasonCode: v5 ? t.reasonCode : t.returnCode,
        properties,
      }) as Packet;
    case "publish": {
      const { topic, qos, retain, dup } = t;
      return drop({
        type: cmd,
        topic,
        payload: u8(t.payload),
        qos,
        retain,
        dup,
        messageId: qos > 0 ? t.messageId : undefined,
        properties,
      }) as Packet;
    }
    case "subscribe":
      return drop({
        type: cmd,
        messageId: t.messageId,
        properties,
        subscriptions: (t.subscriptions as Loose[]).map((s) =>
          drop({ topic: s.topic, qos: s.qos, noLocal: s.nl, retainAsPublished: s.rap, retainHandling: s.rh }),
        ),
      }) as Packet;
    case "pingreq":
    case "pingresp":
      return { type: cmd };
    default: {
      const { messageId, reasonCode, granted, unsubscriptions } = t;
      return drop({ type: cmd, messageId, reasonCode, granted, unsubscriptions, properties }) as Packet;
    }
  }
}

/** A canonical form for comparing meaning: plain Uint8Arrays, user properties stably sorted by name. */
export function canonical(value: unknown): unknown {
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== "object") return value;
  const out: Loose = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (key === "userProperties") {
      out[key] = [...(v as UserProperty[])].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    } else {
      out[key] = canonical(v);
    }
  }
  return out;
}

/** mqtt-packet's encoding of our packet. */
export const theirGenerate = (p: Packet, version: ProtocolVersion): Uint8Array =>
  Uint8Array.from(
    mqttPacket.generate(toTheirs(p, version) as mqttPacket.Packet, { protocolVersion: version }),
  );

/** mqtt-packet's parse of one packet's bytes; throws on its errors or unless exactly one packet. */
export function theirParse(wire: Uint8Array, version: ProtocolVersion): Loose {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const packets: Loose[] = [];
  const errors: unknown[] = [];
  parser.on("packet", (packet) => packets.push(packet));
  parser.on("error", (error) => errors.push(error));
  parser.parse(NodeBuffer.from(wire) as never);
  if (errors.length > 0) throw errors[0];
  if (packets.length !== 1) throw new Error(`mqtt-packet parsed ${packets.length} packets`);
  return packets[0] as Loose;
}
