import type { SubscribePacket, UnsubscribePacket } from "../codec/types";
import { parseShared } from "../shared";
import { isValidTopicFilter, subscribeScope } from "../topics";
import {
  type ConnState,
  type Ctx,
  ProtocolViolation,
  RC,
  type Result,
  SERVER,
  type StoredSubscription,
} from "./state";

/** 3.1.1 SUBACK failure code [MQTT-3.9.3]. */
const V4_FAILURE = 0x80;

/** SUBSCRIBE [MQTT-3.8]: each filter validated and checked against the ACL on its own. */
export const handleSubscribe = (conn: ConnState, p: SubscribePacket, ctx: Ctx): Result => {
  const subscriptionId = p.properties?.subscriptionIdentifiers?.[0];
  const granted: number[] = [];
  const accepted: StoredSubscription[] = [];
  const held = ctx.subscriptionCount();
  const added = new Set<string>(); // filters this SUBSCRIBE adds to the session
  const isNew = (f: string) => !added.has(f) && !(ctx.hasSubscription?.(f) ?? false);
  for (const s of p.subscriptions) {
    let code: number;
    // A shared subscription `$share/<name>/<filter>` is checked by its inner filter [MQTT-4.8.2].
    const shared = parseShared(s.topic);
    if (shared && s.noLocal) {
      // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
      throw new ProtocolViolation(RC.ProtocolError, "no local on a shared subscription");
    }
    if (!isValidTopicFilter(s.topic)) code = conn.version === 5 ? RC.TopicFilterInvalid : V4_FAILURE;
    else if (!subscribeScope(ctx.who, shared?.filter ?? s.topic, ctx.isMember))
      code = conn.version === 5 ? RC.NotAuthorized : V4_FAILURE;
    else if (isNew(s.topic) && held + added.size >= SERVER.maxSubscriptions)
      // A filter past the cap; one the session holds may always be replaced [MQTT-3.8.4-3].
      code = conn.version === 5 ? RC.QuotaExceeded : V4_FAILURE;
    else {
      if (isNew(s.topic)) added.add(s.topic);
      // [MQTT-3.9.3-2] the granted QoS; we support QoS 2, so what was asked.
      code = s.qos;
      accepted.push({
        filter: s.topic,
        qos: s.qos,
        noLocal: s.noLocal ?? false,
        retainAsPublished: s.retainAsPublished ?? false,
        retainHandling: s.retainHandling ?? 0,
        subscriptionId,
      });
    }
    granted.push(code);
  }
  // [MQTT-3.8.4-1] SUBACK with the same packet id, [MQTT-3.8.4-6] one code per filter, in order.
  return {
    conn,
    out: [{ type: "suback", messageId: p.messageId, granted }],
    effects: accepted.length ? [{ type: "subscribe", subscriptions: accepted }] : [],
  };
};

/** UNSUBSCRIBE [MQTT-3.10]. `has` tells whether the session holds a filter (5.0 reason 0x11). */
export const handleUnsubscribe = (
  conn: ConnState,
  p: UnsubscribePacket,
  has: (filter: string) => boolean,
): Result => {
  const granted = p.unsubscriptions.map((f) => (has(f) ? RC.Success : RC.NoSubscriptionExisted));
  return {
    conn,
    // [MQTT-3.10.4-4] UNSUBACK even when nothing was unsubscribed.
    out: [{ type: "unsuback", messageId: p.messageId, granted: conn.version === 5 ? granted : undefined }],
    effects: [{ type: "unsubscribe", filters: p.unsubscriptions }],
  };
};
