import { describe, expect, it } from "vitest";
import { planDelivery, toPublish } from "../../../src/mqtt/deliver";
import type { Message, StoredSubscription } from "../../../src/mqtt/session";

const sub = (
  filter: string,
  qos: 0 | 1 | 2,
  extra: Partial<StoredSubscription> = {},
): StoredSubscription => ({
  filter,
  qos,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  ...extra,
});
const msg = (extra: Partial<Message> = {}): Message => ({
  topic: "x/user/u/talk",
  payload: new Uint8Array([1]),
  qos: 1,
  retain: false,
  ...extra,
});

describe("planDelivery", () => {
  it("delivers overlapping subscriptions once at the highest QoS with every id [MQTT-3.3.4-3..5]", () => {
    const plan = planDelivery(
      msg({ qos: 2 }),
      [sub("x/user/u/#", 1, { subscriptionId: 3 }), sub("x/user/+/talk", 2, { subscriptionId: 9 })],
      "c",
    );
    expect(plan).toEqual({ qos: 2, retain: false, subscriptionIds: [3, 9] });
  });
  it("downgrades to the granted QoS", () => {
    expect(planDelivery(msg({ qos: 2 }), [sub("x/#", 0)], "c")?.qos).toBe(0);
  });
  it("skips the publisher with No Local [MQTT-3.8.3-3]", () => {
    expect(planDelivery(msg({ from: "c" }), [sub("x/#", 1, { noLocal: true })], "c")).toBeNull();
    expect(planDelivery(msg({ from: "d" }), [sub("x/#", 1, { noLocal: true })], "c")).not.toBeNull();
  });
  it("keeps RETAIN only with Retain As Published [MQTT-3.3.1-12/13]", () => {
    expect(planDelivery(msg({ retain: true }), [sub("x/#", 1)], "c")?.retain).toBe(false);
    expect(
      planDelivery(msg({ retain: true }), [sub("x/#", 1, { retainAsPublished: true })], "c")?.retain,
    ).toBe(true);
  });
  it("answers null when nothing matches", () => {
    expect(planDelivery(msg(), [sub("y/#", 1)], "c")).toBeNull();
  });
});

describe("toPublish", () => {
  const plan = { qos: 1 as const, retain: false, subscriptionIds: [7] };
  it("sends the remaining expiry and the subscription ids to a 5.0 client [MQTT-3.3.2-6]", () => {
    const p = toPublish(msg({ expiresAt: 10_500, props: { contentType: "text/plain" } }), plan, 1_000, 42, 5);
    expect(p).toMatchObject({
      type: "publish",
      qos: 1,
      messageId: 42,
      properties: { contentType: "text/plain", messageExpiryInterval: 10, subscriptionIdentifiers: [7] },
    });
  });
  it("drops an expired message [MQTT-3.3.2-5]", () => {
    expect(toPublish(msg({ expiresAt: 999 }), plan, 1_000, 1, 5)).toBeNull();
  });
  it("sends no properties to a 3.1.1 client, and no packet id at QoS 0", () => {
    const p = toPublish(msg({ props: { contentType: "a" } }), { ...plan, qos: 0 }, 0, 5, 4);
    expect(p).toEqual({
      type: "publish",
      topic: "x/user/u/talk",
      payload: new Uint8Array([1]),
      qos: 0,
      retain: false,
      dup: false,
    });
  });
});
