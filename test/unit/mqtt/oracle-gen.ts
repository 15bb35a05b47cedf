import type { Packet, Properties, ProtocolVersion, QoS, UserProperty } from "../../../src/mqtt/codec";
import { PROPERTIES, type PropertyContext } from "../../../src/mqtt/codec/properties";
import {
  AUTH_REASON_CODES,
  CONNACK_REASON_CODES,
  DISCONNECT_REASON_CODES,
  PUBACK_REASON_CODES,
  PUBREL_REASON_CODES,
  SUBACK_REASON_CODES,
  UNSUBACK_REASON_CODES,
} from "../../../src/mqtt/codec/reason-codes";

/** A seeded pseudo-random generator in [0, 1) (mulberry32). */
export type Rng = () => number;

export function seeded(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, 0, items.length - 1)] as T;
const chance = (rng: Rng, p = 0.5) => rng() < p;
const times = <T>(n: number, make: () => T): T[] => Array.from({ length: n }, make);

// multi-byte characters included; never U+0000, "+" or "#"
const CHARS = ["a", "b", "z", "0", "9", "_", "-", ".", " ", "$", "é", "€", "中", "😀", "\u007f", "\ufeff"];
const text = (rng: Rng, min = 0, max = 12) => times(int(rng, min, max), () => pick(rng, CHARS)).join("");
const qos = (rng: Rng) => int(rng, 0, 2) as QoS;
const id = (rng: Rng) => (chance(rng, 0.2) ? pick(rng, [1, 0xffff]) : int(rng, 1, 0xffff));
const binary = (rng: Rng, max = 40) => Uint8Array.from(times(int(rng, 0, max), () => int(rng, 0, 255)));
const codeFrom = (rng: Rng, codes: ReadonlySet<number>) => pick(rng, [...codes]);

const topicName = (rng: Rng) => times(int(rng, 1, 4), () => text(rng, 0, 6)).join("/") || "t";

function topicFilter(rng: Rng): string {
  const levels = times(int(rng, 1, 4), () => (chance(rng, 0.2) ? "+" : text(rng, 1, 6)));
  if (chance(rng, 0.2)) levels.push("#");
  const filter = levels.join("/");
  return chance(rng, 0.15) ? `$share/${text(rng, 1, 4).replaceAll("/", "") || "g"}/${filter}` : filter;
}

function valueFor(rng: Rng, name: keyof Properties, kind: string): unknown {
  if (name === "maximumQoS") return int(rng, 0, 1);
  if (name === "receiveMaximum" || name === "topicAlias") return int(rng, 1, 0xffff);
  if (name === "maximumPacketSize") return int(rng, 1, 0xffff_ffff);
  switch (kind) {
    case "bool":
      return chance(rng);
    case "u16":
      return int(rng, 0, 0xffff);
    case "u32":
      return chance(rng, 0.2) ? pick(rng, [0, 0xffff_ffff]) : int(rng, 0, 0xffff_ffff);
    case "string":
      return text(rng);
    default:
      return binary(rng, 20);
  }
}

/** Random valid properties for `context`, or undefined. */
export function properties(rng: Rng, context: PropertyContext): Properties | undefined {
  if (chance(rng, 0.25)) return undefined;
  const out: Record<string, unknown> = {};
  for (const def of PROPERTIES) {
    if (!def.contexts.includes(context) || !chance(rng, 0.35)) continue;
    if (def.name === "userProperties") {
      const names = times(int(rng, 1, 3), () => text(rng, 0, 4));
      // values are non-empty: mqtt-packet's parser folds a repeated name after an empty value
      out.userProperties = times(int(rng, 1, 4), (): UserProperty => [pick(rng, names), text(rng, 1, 8)]);
    } else if (def.name === "subscriptionIdentifiers") {
      const n = context === "publish" ? int(rng, 1, 3) : 1;
      out.subscriptionIdentifiers = times(n, () =>
        pick(rng, [1, 127, 128, 16_384, 268_435_455, int(rng, 1, 1e6)]),
      );
    } else {
      out[def.name] = valueFor(rng, def.name, def.kind);
    }
  }
  if (out.authenticationData !== undefined && out.authenticationMethod === undefined)
    out.authenticationMethod = "m";
  return Object.keys(out).length > 0 ? (out as Properties) : undefined;
}

/** Packet types that exist in `version`. */
export const typesFor = (version: ProtocolVersion): Packet["type"][] => [
  "connect",
  "connack",
  "publish",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "subscribe",
  "suback",
  "unsubscribe",
  "unsuback",
  "pingreq",
  "pingresp",
  "disconnect",
  ...(version === 5 ? (["auth"] as const) : []),
];

/** A random valid packet of `type` for `version`, within what mqtt-packet can also express. */
export function randomPacket(rng: Rng, version: ProtocolVersion, type: Packet["type"]): Packet {
  const v5 = version === 5;
  const props = (context: PropertyContext) => (v5 ? properties(rng, context) : undefined);
  const withProps = <T extends Packet>(packet: T, context: PropertyContext): T => {
    const p = props(context);
    return p ? { ...packet, properties: p } : packet;
  };
  switch (type) {
    case "connect": {
      const clean = chance(rng);
      const packet: Packet = {
        type,
        protocolVersion: version,
        clientId: clean && chance(rng, 0.2) ? "" : text(rng, 1, 23),
        clean,
        keepalive: int(rng, 0, 0xffff),
      };
      if (chance(rng)) {
        const will = { topic: topicName(rng), payload: binary(rng), qos: qos(rng), retain: chance(rng) };
        const willProps = props("will");
        packet.will = willProps ? { ...will, properties: willProps } : will;
      }
      if (chance(rng)) {
        packet.username = text(rng);
        if (chance(rng)) packet.password = binary(rng);
      }
      return withProps(packet, "connect");
    }
    case "connack":
      return withProps(
        {
          type,
          sessionPresent: chance(rng),
          reasonCode: v5 ? codeFrom(rng, CONNACK_REASON_CODES) : int(rng, 0, 5),
        },
        "connack",
      );
    case "publish": {
      const q = qos(rng);
      const packet: Packet = {
        type,
        topic: topicName(rng),
        payload: binary(rng, chance(rng, 0.04) ? 70_000 : 60),
        qos: q,
        retain: chance(rng),
        dup: q > 0 && chance(rng),
      };
      if (q > 0) packet.messageId = id(rng);
      return withProps(packet, "publish");
    }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp": {
      if (!v5) return { type, messageId: id(rng) };
      const codes = type === "puback" || type === "pubrec" ? PUBACK_REASON_CODES : PUBREL_REASON_CODES;
      return withProps(
        { type, messageId: id(rng), reasonCode: chance(rng) ? 0 : codeFrom(rng, codes) },
        type,
      );
    }
    case "subscribe": {
      const subscriptions = times(int(rng, 1, 4), () => {
        const topic = topicFilter(rng);
        if (!v5) return { topic, qos: qos(rng) };
        const noLocal = !topic.startsWith("$share/") && chance(rng);
        const retainHandling = int(rng, 0, 2) as 0 | 1 | 2;
        return { topic, qos: qos(rng), noLocal, retainAsPublished: chance(rng), retainHandling };
      });
      return withProps({ type, messageId: id(rng), subscriptions }, "subscribe");
    }
    case "suback": {
      const codes = v5 ? SUBACK_REASON_CODES : new Set([0, 1, 2, 0x80]);
      return withProps(
        { type, messageId: id(rng), granted: times(int(rng, 1, 5), () => codeFrom(rng, codes)) },
        "suback",
      );
    }
    case "unsubscribe":
      return withProps(
        { type, messageId: id(rng), unsubscriptions: times(int(rng, 1, 4), () => topicFilter(rng)) },
        "unsubscribe",
      );
    case "unsuback":
      if (!v5) return { type, messageId: id(rng) };
      return withProps(
        {
          type,
          messageId: id(rng),
          granted: times(int(rng, 1, 4), () => codeFrom(rng, UNSUBACK_REASON_CODES)),
        },
        "unsuback",
      );
    case "pingreq":
    case "pingresp":
      return { type };
    case "disconnect":
      if (!v5) return { type };
      return withProps(
        { type, reasonCode: chance(rng) ? 0 : codeFrom(rng, DISCONNECT_REASON_CODES) },
        "disconnect",
      );
    case "auth":
      return withProps({ type, reasonCode: codeFrom(rng, AUTH_REASON_CODES) }, "auth");
  }
}
