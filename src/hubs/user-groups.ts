import { type Message, parseStatus } from "../mqtt/session";
import { parseShared } from "../mqtt/shared";
import { type Channel, channelOf } from "../mqtt/topics";
import { parseReceipts } from "../push/receipts";
import { groupHub } from "./common";
import type { Hub } from "./user-context";
import { reportReceipts } from "./user-receipts";

/**
 * Routes a client's (or a will's) message: user topics here, group topics to their GroupHub.
 * The user property `msg_id` is the platform's (a push's id, whose PUBACK counts as a
 * receipt): a client's own is dropped, so no one can make another user acknowledge a push.
 */
export async function route(hub: Hub, m0: Message, now: number): Promise<void> {
  const who = hub.who;
  if (!who) return;
  const m = withoutMsgId(m0);
  const ch = channelOf(who.app, m.topic);
  if (ch.kind === "status") {
    // Only a Will gets here (a client's own status message is an effect); CONNECT checked it.
    const status = parseStatus(m.payload);
    if (status?.userId === who.id) hub.store.setMeta("focus", status.focus);
    return;
  }
  if (ch.kind === "group") {
    // Membership is checked again here, for a will: it was allowed at CONNECT, but a member
    // removed since has no right to the group any more (nothing reaches it, nothing is retained).
    if (!hub.store.memberships().has(ch.id)) return;
    // Taken by the GroupHub (QoS 1/2: stored in its outbox) before the publisher's PUBACK goes;
    // a failure is thrown, so the PUBACK is not sent and the client sends the message again.
    const key = `${who.app}\u0000${ch.id}`;
    try {
      await hub.groups.get(key).accept(who.app, ch.id, m);
    } catch (err) {
      hub.groups.drop(key);
      throw err;
    }
    return;
  }
  const receipts = isReceiptTopic(ch) ? parseReceipts(m.payload) : null;
  if (receipts) {
    // `<app>/user/<own id>/receipt` (CONTRACT §2): the app's receipts, for the platform only.
    reportReceipts(hub, receipts, "receipt from the app over MQTT");
    return;
  }
  if (m.retain) hub.store.retain(m);
  hub.delivery.deliver(m, now);
}

function withoutMsgId(m: Message): Message {
  const props = m.props?.userProperties;
  if (!props?.some(([k]) => k === "msg_id")) return m;
  return { ...m, props: { ...m.props, userProperties: props.filter(([k]) => k !== "msg_id") } };
}

function isReceiptTopic(ch: Channel): boolean {
  return ch.kind === "user" && ch.rest.length === 1 && ch.rest[0] === "receipt";
}

/** Retained messages a new subscription receives: the user's own, or its groups'. */
export async function retainedFor(hub: Hub, filter: string): Promise<Message[]> {
  const who = hub.who;
  if (!who) return [];
  const ch = channelOf(who.app, filter);
  if (ch.kind === "user") return hub.store.retainedMessages(Date.now());
  if (ch.kind !== "group") return [];
  const groups = ch.id === "+" ? [...hub.store.memberships()] : [ch.id];
  const lists = await Promise.all(groups.map((g) => groupHub(hub.env, who.app, g).retained(who.app, g)));
  // RPC widens the tuple type of user properties; the values are the same.
  return lists.flat() as Message[];
}

/**
 * How long the memberships a UserHub read from D1 stand without reading them again at CONNECT.
 * Changes reach the hub at once by `POST /psp/groups/:id/members` (setMembership); this read
 * only catches a change whose call to the hub failed (that call answered an error).
 */
export const MEMBERSHIPS_FRESH_MS = 10 * 60_000;

/** Reads the memberships from D1 when the last read is older than MEMBERSHIPS_FRESH_MS. */
export async function refreshMemberships(hub: Hub, now: number): Promise<void> {
  const who = hub.who;
  if (!who) return;
  const at = Number(hub.store.getMeta("memberships_at") ?? 0);
  if (now - at < MEMBERSHIPS_FRESH_MS) return;
  // INDEXED BY: without it SQLite picks the primary key (app_id, group_id, user_id) for its
  // covering columns and reads every membership of the app (D1 bills rows read, docs/cost.md).
  const { results } = await hub.env.DB.prepare(
    "SELECT m.group_id FROM group_members m INDEXED BY group_members_user_idx JOIN apps a ON a.id = m.app_id WHERE a.name = ? AND m.user_id = ?",
  )
    .bind(who.app, who.id)
    .all<{ group_id: string }>();
  hub.store.setMemberships(results.map((r) => r.group_id));
  hub.store.setMeta("memberships_at", now);
}

/**
 * Registers with the GroupHubs our subscriptions reach, and leaves the others: as a subscriber
 * for plain subscriptions, and per share group for shared ones (`<group>\u0000<$share filter>`).
 */
export async function syncGroupRegistrations(hub: Hub): Promise<void> {
  const who = hub.who;
  if (!who) return;
  const mine = hub.store.memberships();
  const wanted = new Set<string>();
  const wantedShares = new Set<string>();
  for (const s of hub.store.sessions.subscriptions()) {
    const shared = parseShared(s.filter);
    const ch = channelOf(who.app, shared?.filter ?? s.filter);
    if (ch.kind !== "group") continue;
    const groups = ch.id === "+" ? [...mine] : mine.has(ch.id) ? [ch.id] : [];
    for (const g of groups) {
      if (shared) wantedShares.add(`${g}\u0000${s.filter}`);
      else wanted.add(g);
    }
  }
  const plain = diff(hub, "group_regs", wanted);
  const shares = diff(hub, "group_share_regs", wantedShares);
  if (!plain.add.length && !plain.drop.length && !shares.add.length && !shares.drop.length) return;
  const split = (entry: string) => entry.split("\u0000") as [string, string];
  await Promise.all([
    ...plain.add.map((g) => groupHub(hub.env, who.app, g).addSubscriber(who.app, g, who.id)),
    ...plain.drop.map((g) => groupHub(hub.env, who.app, g).removeSubscriber(who.app, g, who.id)),
    ...shares.add
      .map(split)
      .map(([g, key]) => groupHub(hub.env, who.app, g).addShare(who.app, g, who.id, key)),
    ...shares.drop
      .map(split)
      .map(([g, key]) => groupHub(hub.env, who.app, g).removeShare(who.app, g, who.id, key)),
  ]);
  // Written once the GroupHubs have it: after a failure the next sync tries again.
  hub.store.setMeta("group_regs", JSON.stringify([...wanted]));
  hub.store.setMeta("group_share_regs", JSON.stringify([...wantedShares]));
}

/** What to add and drop to get from the registrations stored under `meta` to `wanted`. */
function diff(hub: Hub, meta: string, wanted: Set<string>): { add: string[]; drop: string[] } {
  const had = new Set<string>(JSON.parse(hub.store.getMeta(meta) ?? "[]") as string[]);
  return { add: [...wanted].filter((g) => !had.has(g)), drop: [...had].filter((g) => !wanted.has(g)) };
}
