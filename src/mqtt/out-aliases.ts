import type { PublishPacket } from "./codec/types";

/**
 * Topic aliases the server uses towards one connection [MQTT-3.3.2.3.4]: topic → alias, and
 * the bytes of topic they hold. Aliases are handed out once, 1, 2, 3 … up to the client's
 * Topic Alias Maximum, and never re-bound to another topic: so a copy of this map taken at any
 * time only lacks entries, never holds a stale one, and an alias is sent alone only for a
 * topic the client was told with it.
 */
export type OutAliases = { next: number; bytes: number; map: Record<string, number> };

/** Topic bytes the map may hold in all (it lives in a WebSocket attachment, which is small). */
export const OUT_ALIAS_BYTES = 1024;
/** Longer topics are always sent in full. */
export const OUT_ALIAS_TOPIC_MAX = 256;

export function newOutAliases(): OutAliases {
  return { next: 1, bytes: 0, map: {} };
}

const utf8 = new TextEncoder();

/**
 * The PUBLISH as it goes to the client: with its alias and an empty topic when the alias is
 * known to the client, with alias and topic the first time, or unchanged. `state` is the new
 * map, to keep once the packet is sent (the same object when nothing changed).
 */
export function withOutAlias(
  packet: PublishPacket,
  max: number,
  aliases: OutAliases | undefined,
): { packet: PublishPacket; state: OutAliases | undefined } {
  if (max <= 0 || packet.topic === "") return { packet, state: aliases };
  const state = aliases ?? newOutAliases();
  const known = state.map[packet.topic];
  if (known !== undefined && known <= max) {
    return { packet: aliased(packet, "", known), state };
  }
  const size = utf8.encode(packet.topic).byteLength;
  if (state.next > max || size > OUT_ALIAS_TOPIC_MAX || state.bytes + size > OUT_ALIAS_BYTES) {
    return { packet, state: aliases };
  }
  const alias = state.next;
  const next: OutAliases = {
    next: alias + 1,
    bytes: state.bytes + size,
    map: { ...state.map, [packet.topic]: alias },
  };
  return { packet: aliased(packet, packet.topic, alias), state: next };
}

function aliased(packet: PublishPacket, topic: string, alias: number): PublishPacket {
  return { ...packet, topic, properties: { ...packet.properties, topicAlias: alias } };
}
