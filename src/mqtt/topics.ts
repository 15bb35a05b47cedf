/**
 * Topic names, topic filters and the platform's ACL (CONTRACT §3). Pure: no runtime imports.
 *
 * Topics of an app `<app>`:
 * - `<app>/user/<user id>/…`   one identity's channel (seed 002 用户频道)
 * - `<app>/group/<group id>/…` a group's channel (seed 002 圈子频道)
 * - `<app>/app/status`         foreground status, published by clients (seed 002 服务器频道)
 */

/** Topic name and filter syntax live with the codec [MQTT-4.7]. */
export { isValidTopicFilter, isValidTopicName } from "./codec/topic";

/**
 * Whether `topic` matches `filter` [MQTT-4.7]. Filters starting with a wildcard do not match
 * topics starting with `$` [MQTT-4.7.2-1].
 */
export const topicMatches = (filter: string, topic: string): boolean => {
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false;
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === "#") return true;
    if (i >= t.length) return false;
    if (level !== "+" && level !== t[i]) return false;
  }
  return f.length === t.length;
};

/** What a topic or filter addresses, by its first three levels. */
export type Channel =
  | { kind: "user"; id: string; rest: string[] }
  | { kind: "group"; id: string; rest: string[] }
  | { kind: "status" }
  | { kind: "other" };

export const channelOf = (app: string, topic: string): Channel => {
  const [a, kind, id, ...rest] = topic.split("/");
  if (a !== app) return { kind: "other" };
  if (kind === "app" && id === "status" && rest.length === 0) return { kind: "status" };
  if ((kind === "user" || kind === "group") && id !== undefined && id !== "") return { kind, id, rest };
  return { kind: "other" };
};

export const userTopic = (app: string, userId: string, suffix: string) => `${app}/user/${userId}/${suffix}`;
export const groupTopic = (app: string, groupId: string, suffix: string) =>
  `${app}/group/${groupId}/${suffix}`;
export const statusTopic = (app: string) => `${app}/app/status`;

/** Who asks: the identity the connection's token names. */
export type Identity = { app: string; id: string };

/**
 * The SUBSCRIBE rule of CONTRACT §3. `groups` are the groups the identity belongs to.
 * Answers which groups the filter reaches (`+` in the group level reaches every group the
 * identity belongs to, and only those), or `null` when refused.
 */
export const subscribeScope = (
  who: Identity,
  filter: string,
  isMember: (groupId: string) => boolean,
): { user: boolean; groups: "all-mine" | string[] } | null => {
  const ch = channelOf(who.app, filter);
  if (ch.kind === "user") return ch.id === who.id ? { user: true, groups: [] } : null;
  if (ch.kind === "group") {
    if (ch.id === "+") return { user: false, groups: "all-mine" };
    if (ch.id === "#" || ch.id.includes("+") || ch.id.includes("#")) return null;
    return isMember(ch.id) ? { user: false, groups: [ch.id] } : null;
  }
  return null;
};

/** The PUBLISH rule of CONTRACT §3 (the `user_id` of a status message is checked by the caller). */
export const mayPublish = (who: Identity, topic: string, isMember: (groupId: string) => boolean): boolean => {
  const ch = channelOf(who.app, topic);
  if (ch.kind === "status") return true;
  if (ch.kind === "user") return ch.id === who.id;
  if (ch.kind === "group") return isMember(ch.id);
  return false;
};
