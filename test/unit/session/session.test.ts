import { describe, expect, it } from "vitest";
import type { ConnectPacket, Packet, PublishPacket } from "../../../src/mqtt/codec/types";
import { type ConnState, type Ctx, handlePacket, newConnState, RC, SERVER } from "../../../src/mqtt/session";

const enc = new TextEncoder();

const ctx = (over: Partial<Ctx> = {}): Ctx => ({
  now: 1_000_000,
  who: { app: "xunqun", id: "u1" },
  isMember: (g) => g === "fam",
  hasSession: () => false,
  hasInboundQos2: () => false,
  inboundQos2Count: () => 0,
  subscriptionCount: () => 0,
  newClientId: () => "auto-1",
  ...over,
});

const connect = (over: Partial<ConnectPacket> = {}): ConnectPacket => ({
  type: "connect",
  protocolVersion: 4,
  clientId: "phone",
  clean: true,
  keepalive: 60,
  ...over,
});

const connected = (version: 4 | 5 = 4): ConnState =>
  handlePacket(newConnState(), connect({ protocolVersion: version }), ctx()).conn;

const publish = (over: Partial<PublishPacket> = {}): PublishPacket => ({
  type: "publish",
  topic: "xunqun/user/u1/talk",
  payload: enc.encode("hi"),
  qos: 0,
  retain: false,
  dup: false,
  ...over,
});

describe("CONNECT", () => {
  it("must come first [MQTT-3.1.0-1]", () => {
    const r = handlePacket(newConnState(), { type: "pingreq" }, ctx());
    expect(r.close).toBeDefined();
    expect(r.out).toEqual([]);
  });

  it("is answered with CONNACK 0 and opens the session", () => {
    const r = handlePacket(newConnState(), connect({ clean: false }), ctx({ hasSession: () => true }));
    expect(r.out).toEqual([{ type: "connack", sessionPresent: true, reasonCode: 0, properties: undefined }]);
    expect(r.effects).toEqual([
      { type: "open-session", clientId: "phone", clean: false, expiry: 30 * 86400, will: undefined },
    ]);
    expect(r.conn.phase).toBe("connected");
  });

  it("has no Session Present with clean session [MQTT-3.2.2-1]", () => {
    const r = handlePacket(newConnState(), connect({ clean: true }), ctx({ hasSession: () => true }));
    expect(r.out[0]).toMatchObject({ sessionPresent: false });
  });

  it("refuses a second CONNECT [MQTT-3.1.0-2]", () => {
    const r = handlePacket(connected(), connect(), ctx());
    expect(r.close).toBeDefined();
    expect(r.conn.phase).toBe("closed");
  });

  it("refuses an empty client id without clean session in 3.1.1 with code 2 [MQTT-3.1.3-8]", () => {
    const r = handlePacket(newConnState(), connect({ clientId: "", clean: false }), ctx());
    expect(r.out).toEqual([{ type: "connack", sessionPresent: false, reasonCode: 2 }]);
    expect(r.close).toBeDefined();
  });

  it("assigns a client id in 5.0 [MQTT-3.1.3-6]", () => {
    const r = handlePacket(newConnState(), connect({ clientId: "", protocolVersion: 5 }), ctx());
    expect(r.out[0]).toMatchObject({ reasonCode: 0, properties: { assignedClientIdentifier: "auto-1" } });
  });

  it("refuses a user name other than the token's subject (3.1.1: 4, 5.0: 0x86)", () => {
    expect(handlePacket(newConnState(), connect({ username: "u2" }), ctx()).out[0]).toMatchObject({
      reasonCode: 4,
    });
    const v5 = handlePacket(newConnState(), connect({ username: "u2", protocolVersion: 5 }), ctx());
    expect(v5.out[0]).toMatchObject({ reasonCode: RC.BadUserNameOrPassword });
  });

  it("refuses a will on a topic the identity may not publish to (3.1.1: 5)", () => {
    const will = { topic: "xunqun/user/u2/x", payload: enc.encode("bye"), qos: 0 as const, retain: false };
    expect(handlePacket(newConnState(), connect({ will }), ctx()).out[0]).toMatchObject({ reasonCode: 5 });
  });

  it("keeps a 5.0 will with its delay", () => {
    const will = {
      topic: "xunqun/app/status",
      payload: enc.encode('{"user_id":"u1","focus":0}'),
      qos: 1 as const,
      retain: false,
      properties: { willDelayInterval: 5 },
    };
    const r = handlePacket(newConnState(), connect({ protocolVersion: 5, will }), ctx());
    expect(r.effects[0]).toMatchObject({
      type: "open-session",
      will: { topic: "xunqun/app/status", delay: 5, qos: 1 },
    });
  });
});

describe("PUBLISH from a client", () => {
  it("routes an allowed QoS 1 message and answers PUBACK", () => {
    const r = handlePacket(connected(), publish({ qos: 1, messageId: 7 }), ctx());
    expect(r.out).toEqual([{ type: "puback", messageId: 7 }]);
    expect(r.effects).toMatchObject([{ type: "publish", message: { topic: "xunqun/user/u1/talk", qos: 1 } }]);
  });

  it("drops a message to another user's topic; 5.0 answers PUBACK 0x87", () => {
    const v4 = handlePacket(
      connected(4),
      publish({ topic: "xunqun/user/u2/x", qos: 1, messageId: 1 }),
      ctx(),
    );
    expect(v4.effects).toEqual([]);
    expect(v4.out).toEqual([{ type: "puback", messageId: 1 }]);
    const v5 = handlePacket(
      connected(5),
      publish({ topic: "xunqun/user/u2/x", qos: 1, messageId: 1 }),
      ctx(),
    );
    expect(v5.out).toEqual([{ type: "puback", messageId: 1, reasonCode: RC.NotAuthorized }]);
  });

  it("sets focus from a status message naming the identity, and refuses another user_id", () => {
    const ok = handlePacket(
      connected(),
      publish({ topic: "xunqun/app/status", payload: enc.encode('{"user_id":"u1","focus":1}') }),
      ctx(),
    );
    expect(ok.effects).toEqual([{ type: "status", focus: 1 }]);
    const other = handlePacket(
      connected(),
      publish({ topic: "xunqun/app/status", payload: enc.encode('{"user_id":"u2","focus":1}') }),
      ctx(),
    );
    expect(other.effects).toEqual([]);
  });

  it("answers a re-sent QoS 2 PUBLISH with PUBREC only [MQTT-4.3.3]", () => {
    const r = handlePacket(
      connected(),
      publish({ qos: 2, messageId: 9, dup: true }),
      ctx({ hasInboundQos2: () => true }),
    );
    expect(r.out).toEqual([{ type: "pubrec", messageId: 9 }]);
    expect(r.effects).toEqual([]);
  });

  it("resolves 5.0 topic aliases and refuses an unknown one [MQTT-3.3.2-12]", () => {
    let conn = connected(5);
    const first = handlePacket(conn, publish({ properties: { topicAlias: 1 } }), ctx());
    conn = first.conn;
    const second = handlePacket(conn, publish({ topic: "", properties: { topicAlias: 1 } }), ctx());
    expect(second.effects).toMatchObject([{ type: "publish", message: { topic: "xunqun/user/u1/talk" } }]);
    const unknown = handlePacket(conn, publish({ topic: "", properties: { topicAlias: 2 } }), ctx());
    expect(unknown.out).toEqual([
      expect.objectContaining({ type: "disconnect", reasonCode: RC.ProtocolError }),
    ]);
    const tooBig = handlePacket(conn, publish({ properties: { topicAlias: 999 } }), ctx());
    expect(tooBig.out).toEqual([
      expect.objectContaining({ type: "disconnect", reasonCode: RC.TopicAliasInvalid }),
    ]);
  });
});

describe("SUBSCRIBE, PING, DISCONNECT", () => {
  it("grants allowed filters and fails the others one by one", () => {
    const packet: Packet = {
      type: "subscribe",
      messageId: 3,
      subscriptions: [
        { topic: "xunqun/user/u1/#", qos: 1 },
        { topic: "xunqun/user/u2/#", qos: 1 },
        { topic: "xunqun/group/fam/#", qos: 2 },
        { topic: "a/#/b", qos: 0 },
      ],
    };
    expect(handlePacket(connected(4), packet, ctx()).out).toEqual([
      { type: "suback", messageId: 3, granted: [1, 0x80, 2, 0x80] },
    ]);
    expect(handlePacket(connected(5), packet, ctx()).out).toEqual([
      { type: "suback", messageId: 3, granted: [1, RC.NotAuthorized, 2, RC.TopicFilterInvalid] },
    ]);
  });

  it("answers PINGREQ with PINGRESP [MQTT-3.12.4-1]", () => {
    expect(handlePacket(connected(), { type: "pingreq" }, ctx()).out).toEqual([{ type: "pingresp" }]);
  });

  it("discards the will on DISCONNECT, and keeps it with 5.0 reason 0x04", () => {
    expect(handlePacket(connected(4), { type: "disconnect" }, ctx()).effects).toEqual([
      { type: "disconnect", sendWill: false, expiry: undefined },
    ]);
    expect(handlePacket(connected(5), { type: "disconnect", reasonCode: 4 }, ctx()).effects).toEqual([
      { type: "disconnect", sendWill: true, expiry: undefined },
    ]);
  });
});

describe("server-side MQTT 5 features in the session core", () => {
  it("CONNACK: Server Keep Alive from the policy, Shared Subscription Available, the client's alias maximum kept", () => {
    const r = handlePacket(
      newConnState(),
      connect({ protocolVersion: 5, keepalive: 60, properties: { topicAliasMaximum: 100 } }),
      ctx({ keepalivePolicy: { preferred: 300, min: 30, max: 600 } }),
    );
    expect(r.out[0]).toMatchObject({
      type: "connack",
      properties: { serverKeepAlive: 300, sharedSubscriptionAvailable: true },
    });
    expect(r.conn.keepalive).toBe(300);
    expect(r.conn.clientTopicAliasMaximum).toBe(16); // capped at SERVER.outboundTopicAliases
  });

  it("3.1.1: no Server Keep Alive, the floor enforced", () => {
    const r = handlePacket(
      newConnState(),
      connect({ keepalive: 5 }),
      ctx({ keepalivePolicy: { min: 30, max: 60 } }),
    );
    expect(r.out[0]).toEqual({
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: undefined,
    });
    expect(r.conn.keepalive).toBe(30);
    expect(r.conn.clientTopicAliasMaximum).toBe(0);
  });

  it("grants a shared subscription by its inner filter's ACL and stores the full filter", () => {
    const packet: Packet = {
      type: "subscribe",
      messageId: 4,
      subscriptions: [
        { topic: "$share/g/xunqun/user/u1/#", qos: 1 },
        { topic: "$share/g/xunqun/user/u2/#", qos: 1 },
        { topic: "$share/g/xunqun/group/fam/+", qos: 2 },
      ],
    };
    const r = handlePacket(connected(5), packet, ctx());
    expect(r.out).toEqual([{ type: "suback", messageId: 4, granted: [1, RC.NotAuthorized, 2] }]);
    expect(r.effects).toEqual([
      {
        type: "subscribe",
        subscriptions: [
          expect.objectContaining({ filter: "$share/g/xunqun/user/u1/#" }),
          expect.objectContaining({ filter: "$share/g/xunqun/group/fam/+" }),
        ],
      },
    ]);
  });

  it("No Local on a shared subscription is a protocol error [MQTT-3.8.3-4]", () => {
    const packet: Packet = {
      type: "subscribe",
      messageId: 5,
      subscriptions: [{ topic: "$share/g/xunqun/user/u1/#", qos: 1, noLocal: true }],
    };
    const r = handlePacket(connected(5), packet, ctx());
    expect(r.out).toEqual([expect.objectContaining({ type: "disconnect", reasonCode: RC.ProtocolError })]);
    expect(r.close).toBeDefined();
  });
});

describe("per-connection limits (issue 14)", () => {
  const sub = (topics: string[], messageId = 1): Packet => ({
    type: "subscribe",
    messageId,
    subscriptions: topics.map((topic) => ({ topic, qos: 1 as const })),
  });

  it("caps the outbound in-flight window: 3.1.1 (no Receive Maximum) and a large 5.0 one at 100", () => {
    expect(connected(4).clientReceiveMaximum).toBe(SERVER.maxInflight);
    const big = handlePacket(
      newConnState(),
      connect({ protocolVersion: 5, properties: { receiveMaximum: 5000 } }),
      ctx(),
    );
    expect(big.conn.clientReceiveMaximum).toBe(SERVER.maxInflight);
    const small = handlePacket(
      newConnState(),
      connect({ protocolVersion: 5, properties: { receiveMaximum: 3 } }),
      ctx(),
    );
    expect(small.conn.clientReceiveMaximum).toBe(3);
  });

  it.each([4, 5] as const)(
    "PUBLISH past 200 at once closes the connection (5.0: DISCONNECT 0x96), level %i",
    (v) => {
      let conn = connected(v);
      for (let i = 0; i < SERVER.publishRate.burst; i++) {
        const r = handlePacket(conn, publish(), ctx());
        expect(r.close).toBeUndefined();
        conn = r.conn;
      }
      const over = handlePacket(conn, publish(), ctx());
      expect(over.close).toBeDefined();
      expect(over.effects).toEqual([{ type: "disconnect", sendWill: true }]); // not routed
      expect(over.out).toEqual(
        v === 5 ? [expect.objectContaining({ type: "disconnect", reasonCode: 0x96 })] : [],
      );
    },
  );

  it("PUBLISH at 100 per second is admitted for ever; the bucket refills with time", () => {
    let conn = connected(4);
    for (let i = 0; i < SERVER.publishRate.burst; i++) conn = handlePacket(conn, publish(), ctx()).conn;
    // 10 s at exactly the rate: every one admitted.
    for (let ms = 10; ms <= 10_000; ms += 10) {
      const r = handlePacket(conn, publish(), ctx({ now: 1_000_000 + ms }));
      expect(r.close).toBeUndefined();
      conn = r.conn;
    }
    expect(handlePacket(conn, publish(), ctx({ now: 1_010_000 })).close).toBeDefined();
    // After 2 s of silence the bucket is full again.
    for (let i = 0; i < SERVER.publishRate.burst; i++) {
      const r = handlePacket(conn, publish(), ctx({ now: 1_012_010 }));
      expect(r.close).toBeUndefined();
      conn = r.conn;
    }
  });

  it("SUBSCRIBE and UNSUBSCRIBE together past 50 at once: DISCONNECT 0x96", () => {
    let conn = connected(5);
    for (let i = 0; i < SERVER.subscribeRate.burst; i++) {
      const packet: Packet =
        i % 2
          ? sub(["xunqun/user/u1/a"], i + 1)
          : { type: "unsubscribe", messageId: i + 1, unsubscriptions: ["x"] };
      const r = handlePacket(conn, packet, ctx());
      expect(r.close).toBeUndefined();
      conn = r.conn;
    }
    const over = handlePacket(conn, sub(["xunqun/user/u1/a"], 99), ctx());
    expect(over.out).toEqual([
      expect.objectContaining({ type: "disconnect", reasonCode: RC.MessageRateTooHigh }),
    ]);
  });

  it("subscriptions past 100 per session get 0x97 (3.1.1: 0x80); held filters may be replaced", () => {
    const held = new Set(Array.from({ length: 99 }, (_, i) => `xunqun/user/u1/t${i}`));
    const c = ctx({ subscriptionCount: () => held.size, hasSubscription: (f) => held.has(f) });
    const topics = ["xunqun/user/u1/new1", "xunqun/user/u1/new1", "xunqun/user/u1/new2", "xunqun/user/u1/t5"];
    const v5 = handlePacket(connected(5), sub(topics), c);
    expect(v5.out).toEqual([{ type: "suback", messageId: 1, granted: [1, 1, RC.QuotaExceeded, 1] }]);
    expect(v5.effects).toEqual([
      {
        type: "subscribe",
        subscriptions: [topics[0], topics[1], topics[3]].map((filter) => expect.objectContaining({ filter })),
      },
    ]);
    const v4 = handlePacket(connected(4), sub(topics), c);
    expect(v4.out).toEqual([{ type: "suback", messageId: 1, granted: [1, 1, 0x80, 1] }]);
  });
});
