import { topicMatches } from "./topics";

/**
 * Shared subscriptions `$share/<name>/<filter>` [MQTT-4.8.2]. Subscriptions with the same full
 * filter string form one share group, its key; each message matching the inner filter goes to
 * one member of each share group. Pure: no runtime imports.
 */
export const SHARE_PREFIX = "$share/";

/** The share name and inner filter of a valid shared filter, or null for a plain filter. */
export function parseShared(filter: string): { name: string; filter: string } | null {
  if (!filter.startsWith(SHARE_PREFIX)) return null;
  const slash = filter.indexOf("/", SHARE_PREFIX.length);
  if (slash < 0) return null;
  return { name: filter.slice(SHARE_PREFIX.length, slash), filter: filter.slice(slash + 1) };
}

/** The filter a subscription matches topics with: the inner filter of a shared one. */
export function innerFilter(filter: string): string {
  return parseShared(filter)?.filter ?? filter;
}

/** Whether a message on `topic` is for the share group `key` (a full `$share/…` filter). */
export function shareMatches(key: string, topic: string): boolean {
  const shared = parseShared(key);
  return shared !== null && topicMatches(shared.filter, topic);
}

/**
 * Round robin over share groups: for each group, the member whose turn it is. `members` are
 * in a stable order; the turn counters are kept by the caller (in memory: after an eviction the
 * rotation starts again, which only changes who is next).
 */
export class ShareRotation {
  private readonly turns = new Map<string, number>();

  /** One of `members` (null when there are none), and the turn moves on. */
  pick<T>(key: string, members: readonly T[]): T | null {
    if (members.length === 0) return null;
    const turn = this.turns.get(key) ?? 0;
    this.turns.set(key, (turn + 1) % 1_000_000);
    return members[turn % members.length] ?? null;
  }
}
