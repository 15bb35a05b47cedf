import type { PublishPacket, QoS } from "./codec/types";
import type { Message, StoredSubscription } from "./session/state";
import { SHARE_PREFIX } from "./shared";
import { topicMatches } from "./topics";

/** How one session receives one message, or null when none of its subscriptions match. */
export type DeliveryPlan = { qos: QoS; retain: boolean; subscriptionIds: number[] };

/**
 * Overlapping subscriptions of one session deliver the message once, at the highest granted
 * QoS, with every matching Subscription Identifier [MQTT-3.3.4-3..5]. No Local skips the
 * publishing session [MQTT-3.8.3-3]; the RETAIN flag is kept only with Retain As Published
 * [MQTT-3.3.1-12/13].
 */
export const planDelivery = (
  message: Message,
  subs: readonly StoredSubscription[],
  sessionKey: string,
): DeliveryPlan | null => {
  let plan: DeliveryPlan | null = null;
  for (const s of subs) {
    // Shared subscriptions are planned by share group (sharedPlan), never here.
    if (s.filter.startsWith(SHARE_PREFIX) || !topicMatches(s.filter, message.topic)) continue;
    if (s.noLocal && message.from === sessionKey) continue;
    const qos = Math.min(message.qos, s.qos) as QoS;
    plan ??= { qos: 0, retain: false, subscriptionIds: [] };
    plan.qos = Math.max(plan.qos, qos) as QoS;
    if (s.retainAsPublished && message.retain) plan.retain = true;
    if (s.subscriptionId !== undefined) plan.subscriptionIds.push(s.subscriptionId);
  }
  return plan;
};

/** How the member picked for a share group receives a message through its shared subscription. */
export const sharedPlan = (message: Message, sub: StoredSubscription): DeliveryPlan => ({
  qos: Math.min(message.qos, sub.qos) as QoS,
  retain: sub.retainAsPublished && message.retain,
  subscriptionIds: sub.subscriptionId !== undefined ? [sub.subscriptionId] : [],
});

/** The PUBLISH a subscriber gets; `null` once the message has expired [MQTT-3.3.2-5/6]. */
export const toPublish = (
  m: Message,
  plan: DeliveryPlan,
  now: number,
  messageId: number | undefined,
  version: 4 | 5,
  dup = false,
): PublishPacket | null => {
  let expiry: number | undefined;
  if (m.expiresAt !== undefined) {
    const left = Math.ceil((m.expiresAt - now) / 1000);
    if (left <= 0) return null;
    expiry = left;
  }
  const packet: PublishPacket = {
    type: "publish",
    topic: m.topic,
    payload: m.payload,
    qos: plan.qos,
    retain: plan.retain,
    dup,
    ...(plan.qos > 0 ? { messageId } : {}),
  };
  if (version === 5) {
    const props = {
      ...Object.fromEntries(Object.entries(m.props ?? {}).filter(([, v]) => v !== undefined)),
      ...(expiry !== undefined ? { messageExpiryInterval: expiry } : {}),
      ...(plan.subscriptionIds.length ? { subscriptionIdentifiers: plan.subscriptionIds } : {}),
    };
    if (Object.keys(props).length) packet.properties = props;
  }
  return packet;
};
