import { describe, expect, it } from "vitest";
import { inbound, outbound, PacketStream, type TopicMap } from "../../scripts/conformance/rewrite";
import { decode, encode } from "../../src/mqtt/codec";
import type { PublishPacket, SubscribePacket } from "../../src/mqtt/codec/types";

const map: TopicMap = { prefix: "paho/user/paho", forbidden: "paho/forbidden" };

describe("conformance shim topic rewriting (npm run conformance)", () => {
  it("moves the suite's topics under the prefix and back; forbidden and $ topics outside the ACL", () => {
    expect(inbound(map, "TopicA/+")).toBe("paho/user/paho/TopicA/+");
    expect(inbound(map, "/TopicA")).toBe("paho/user/paho//TopicA");
    expect(inbound(map, "#")).toBe("paho/user/paho/#");
    expect(inbound(map, "$share/g/client_test5/x")).toBe("$share/g/paho/user/paho/client_test5/x");
    expect(inbound(map, "test/nosubscribe")).toBe("paho/forbidden/test/nosubscribe");
    expect(inbound(map, "$SYS/x")).toBe("paho/forbidden/$SYS/x");
    expect(inbound(map, "")).toBe("");
    expect(outbound(map, "paho/user/paho//TopicA")).toBe("/TopicA");
    expect(outbound(map, "elsewhere/x")).toBe("elsewhere/x");
  });

  it("rewrites packets split across chunks, and leaves other packets byte for byte", () => {
    const conn = { version: 5 as const };
    const up = new PacketStream(map, "in", conn);
    const sub: SubscribePacket = {
      type: "subscribe",
      messageId: 7,
      subscriptions: [{ topic: "TopicA/#", qos: 1 }],
    };
    const bytes = encode(sub, 5);
    expect(up.push(bytes.subarray(0, 3))).toEqual([]);
    const [out] = up.push(bytes.subarray(3));
    expect(decode(out as Uint8Array, 5)).toMatchObject({
      subscriptions: [{ topic: "paho/user/paho/TopicA/#" }],
    });
    const ping = new Uint8Array([0xc0, 0x00]);
    expect(up.push(ping)).toEqual([ping]);

    const down = new PacketStream(map, "out", conn);
    const pub: PublishPacket = {
      type: "publish",
      topic: "paho/user/paho/TopicA",
      payload: new Uint8Array([1]),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 1 },
    };
    const aliasOnly: PublishPacket = { ...pub, topic: "" };
    const both = new Uint8Array([...encode(pub, 5), ...encode(aliasOnly, 5)]);
    const [first, second] = down.push(both).map((p) => decode(p, 5) as PublishPacket);
    expect(first?.topic).toBe("TopicA");
    expect(second?.topic).toBe("");
    expect(second?.properties?.topicAlias).toBe(1);
  });
});
