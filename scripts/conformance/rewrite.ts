/**
 * Topic rewriting for the conformance shim: a test suite written for an open broker uses fixed
 * top-level topics ("TopicA", "+/C", "#"); the platform only lets an identity use its own
 * topics. Client → broker, every topic name and filter is moved under one prefix inside the
 * identity's ACL (`<app>/user/<id>/…`, or a group's), which keeps matching intact (a level is
 * only added in front); broker → client, the prefix is taken off again. Topics the suite means
 * to be refused (`test/nosubscribe`, and `$…` topics other than `$share/…`) are moved outside
 * the ACL, so the platform refuses them as it would any forbidden topic.
 *
 * Uses the project's own codec; packets it cannot decode pass unchanged (the broker judges them).
 */
import { decode, encode, readFixedHeader } from "../../src/mqtt/codec";
import type { Packet, ProtocolVersion } from "../../src/mqtt/codec/types";
import { announcedLevel } from "../../src/mqtt/session";

export type TopicMap = { prefix: string; forbidden: string };

/** `topic` as the platform sees it. */
export function inbound(map: TopicMap, topic: string): string {
  if (topic === "") return topic; // a topic alias alone
  if (topic.startsWith("$share/")) {
    const slash = topic.indexOf("/", 7);
    if (slash < 0) return topic;
    return `${topic.slice(0, slash + 1)}${map.prefix}/${topic.slice(slash + 1)}`;
  }
  if (topic.startsWith("$") || topic.startsWith("test/nosubscribe")) return `${map.forbidden}/${topic}`;
  return `${map.prefix}/${topic}`;
}

/** `topic` as the suite sees it. */
export function outbound(map: TopicMap, topic: string): string {
  return topic.startsWith(`${map.prefix}/`) ? topic.slice(map.prefix.length + 1) : topic;
}

function rewriteIn(map: TopicMap, p: Packet): Packet | null {
  switch (p.type) {
    case "connect":
      return p.will ? { ...p, will: { ...p.will, topic: inbound(map, p.will.topic) } } : null;
    case "publish":
      return p.topic === "" ? null : { ...p, topic: inbound(map, p.topic) };
    case "subscribe":
      return { ...p, subscriptions: p.subscriptions.map((s) => ({ ...s, topic: inbound(map, s.topic) })) };
    case "unsubscribe":
      return { ...p, unsubscriptions: p.unsubscriptions.map((t) => inbound(map, t)) };
    default:
      return null;
  }
}

function rewriteOut(map: TopicMap, p: Packet): Packet | null {
  return p.type === "publish" && p.topic !== "" ? { ...p, topic: outbound(map, p.topic) } : null;
}

/**
 * One direction of one connection: splits the byte stream into packets and rewrites those that
 * carry topics. `version` is learnt from the CONNECT (shared by both directions).
 */
export class PacketStream {
  private pending = new Uint8Array(0);

  constructor(
    private readonly map: TopicMap,
    private readonly direction: "in" | "out",
    private readonly conn: { version: ProtocolVersion },
  ) {}

  /** The complete packets in `chunk` (and what came before it), rewritten where needed. */
  push(chunk: Uint8Array): Uint8Array[] {
    const all = new Uint8Array(this.pending.length + chunk.length);
    all.set(this.pending);
    all.set(chunk, this.pending.length);
    const out: Uint8Array[] = [];
    let at = 0;
    for (;;) {
      let header: ReturnType<typeof readFixedHeader>;
      try {
        header = readFixedHeader(all, at);
      } catch {
        // Not MQTT framing: pass everything on and let the broker answer it.
        out.push(all.subarray(at));
        at = all.length;
        break;
      }
      if (!header) break;
      const end = at + header.headerLength + header.remainingLength;
      if (end > all.length) break;
      out.push(this.rewrite(all.slice(at, end)));
      at = end;
    }
    this.pending = all.slice(at);
    return out;
  }

  private rewrite(bytes: Uint8Array): Uint8Array {
    if (this.direction === "in" && bytes[0] === 0x10) {
      const level = announcedLevel(bytes);
      if (level === 4 || level === 5) this.conn.version = level;
    }
    try {
      const packet = decode(bytes, this.conn.version);
      const changed = this.direction === "in" ? rewriteIn(this.map, packet) : rewriteOut(this.map, packet);
      return changed ? encode(changed, this.conn.version) : bytes;
    } catch {
      return bytes;
    }
  }
}
