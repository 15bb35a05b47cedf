import mqttPacket, { type IPublishPacket, type Packet } from "mqtt-packet";
import { afterAll, describe, expect, it } from "vitest";
import {
  type App,
  closeAll,
  collectN,
  connectAs,
  createApp,
  makeGroup,
  mqttToken,
  nextMessage,
  subscribeCodes,
} from "./helpers";
import { RawClient, rawClosedWithin } from "./raw";

// Hostile MQTT clients (issue 14 §2): each case closes only the client that misbehaves (MQTT 5:
// DISCONNECT with the reason code of docs/mqtt.md "Limits"), while another client of the same
// UserHub (same identity) and of the same GroupHub keeps receiving. Each test has its own app.
afterAll(closeAll);

const v5 = { protocolVersion: 5 as const };

/** Several packets in one WebSocket frame: the hub handles them at one instant. */
const frame = (packets: Packet[], version: 4 | 5) =>
  Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: version })));

/**
 * The well-behaved side of a test: a watcher of identity u1 (the hostile client's identity, so
 * the same UserHub) subscribed to u1's topics and to group g (u1 is a member: the same GroupHub),
 * and a publisher. `check` proves the watcher still receives on both.
 */
const bystanders = async (app: App) => {
  await makeGroup(app, "g", ["u1", "u2"]);
  const watcher = await connectAs(app, "u1", { ...v5, clientId: "watcher" });
  await subscribeCodes(watcher, [`${app.name}/user/u1/#`, `${app.name}/group/g/#`]);
  const publisher = await connectAs(app, "u2", { ...v5, clientId: "publisher" });
  const check = async () => {
    for (const topic of [`${app.name}/group/g/after`, `${app.name}/user/u1/after`]) {
      const got = nextMessage(watcher, 5000, (t) => t === topic);
      if (topic.includes("/group/")) await publisher.publishAsync(topic, "still here", { qos: 1 });
      else await watcher.publishAsync(topic, "still here", { qos: 1 });
      expect((await got).payload).toBe("still here");
    }
    expect(watcher.connected).toBe(true);
  };
  return { watcher, publisher, check };
};

describe.concurrent("hostile clients: only they are closed", () => {
  it("bytes before CONNECT: closed without an answer", async () => {
    const app = await createApp();
    const { check } = await bystanders(app);
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    raw.send(Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
    await raw.closed;
    expect(raw.received).toEqual([]);
    await check();
  });

  it("a second CONNECT: DISCONNECT 0x82 [MQTT-3.1.0-2]", async () => {
    const app = await createApp();
    const { check } = await bystanders(app);
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "twice" });
    raw.send({ cmd: "connect", protocolVersion: 5, clientId: "twice", clean: true, keepalive: 0 });
    expect(await raw.next("disconnect")).toMatchObject({ reasonCode: 0x82 });
    await raw.closed;
    await check();
  });

  it.each([4, 5] as const)(
    "a PUBLISH flood: the first 200 are routed, then the close (5.0: DISCONNECT 0x96), level %i",
    { timeout: 30_000 },
    async (version) => {
      const app = await createApp();
      const { watcher, check } = await bystanders(app);
      const topic = `${app.name}/user/u1/flood`;
      // Until 200 have come, then 500 ms more: a 201st would be routed right after the 200th.
      const flood = collectN(watcher, 200, 500, 15_000);
      const raw = await RawClient.open(await mqttToken(app, "u1"), version);
      await raw.connect({ clientId: "flood" });
      const publishes = Array.from(
        { length: 250 },
        (_, i): Packet => ({ cmd: "publish", topic, payload: String(i), qos: 0, retain: false, dup: false }),
      );
      raw.send(frame(publishes, version));
      const closed = await raw.closed;
      if (version === 5) expect(raw.received.at(-1)).toMatchObject({ cmd: "disconnect", reasonCode: 0x96 });
      else expect(raw.received.map((p) => p.cmd)).toEqual(["connack"]);
      expect(closed.code).toBe(1002);
      const got = (await flood).filter((m) => m.topic === topic).map((m) => m.payload);
      expect(got).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
      await check();
    },
  );

  it("QoS 1 PUBLISHes without waiting for PUBACK: 200 acknowledged, then DISCONNECT 0x96", async () => {
    const app = await createApp();
    const { check } = await bystanders(app);
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "pipeline" });
    const publishes = Array.from(
      { length: 250 },
      (_, i): Packet => ({
        cmd: "publish",
        topic: `${app.name}/user/u1/q1`,
        payload: "x",
        qos: 1,
        messageId: i + 1,
        retain: false,
        dup: false,
      }),
    );
    raw.send(frame(publishes, 5));
    await raw.closed;
    expect(raw.received.filter((p) => p.cmd === "puback")).toHaveLength(200);
    expect(raw.received.at(-1)).toMatchObject({ cmd: "disconnect", reasonCode: 0x96 });
    await check();
  });

  it("QoS 2 past the broker's Receive Maximum (64 awaiting PUBREL): DISCONNECT 0x93 [MQTT-3.3.4-9]", async () => {
    const app = await createApp();
    const { check } = await bystanders(app);
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    const connack = (await raw.connect({ clientId: "qos2" })) as { properties?: { receiveMaximum?: number } };
    expect(connack.properties?.receiveMaximum).toBe(64);
    const publishes = Array.from(
      { length: 65 },
      (_, i): Packet => ({
        cmd: "publish",
        topic: `${app.name}/user/u1/q2`,
        payload: "x",
        qos: 2,
        messageId: i + 1,
        retain: false,
        dup: false,
      }),
    );
    raw.send(frame(publishes, 5));
    await raw.closed;
    expect(raw.received.filter((p) => p.cmd === "pubrec")).toHaveLength(64);
    expect(raw.received.at(-1)).toMatchObject({ cmd: "disconnect", reasonCode: 0x93 });
    await check();
  });

  it("a SUBSCRIBE flood: 50 answered, then DISCONNECT 0x96", async () => {
    const app = await createApp();
    const { check } = await bystanders(app);
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "subflood" });
    const subscribes = Array.from(
      { length: 60 },
      (_, i): Packet => ({
        cmd: "subscribe",
        messageId: i + 1,
        subscriptions: [{ topic: `${app.name}/user/u1/s${i}`, qos: 0 }],
      }),
    );
    raw.send(frame(subscribes, 5));
    await raw.closed;
    expect(raw.received.filter((p) => p.cmd === "suback")).toHaveLength(50);
    expect(raw.received.at(-1)).toMatchObject({ cmd: "disconnect", reasonCode: 0x96 });
    await check();
  });

  it.each([
    [5, 0x97],
    [4, 0x80],
  ] as const)(
    "past 100 subscriptions per session the filter is refused (level %i: code %i); the connection stays",
    async (version, code) => {
      const app = await createApp();
      const { check } = await bystanders(app);
      const raw = await RawClient.open(await mqttToken(app, "u1"), version);
      await raw.connect({ clientId: "many" });
      const topics = Array.from({ length: 101 }, (_, i) => `${app.name}/user/u1/t${i}`);
      raw.send({ cmd: "subscribe", messageId: 1, subscriptions: topics.map((topic) => ({ topic, qos: 0 })) });
      const suback = (await raw.next("suback")) as { granted: number[] };
      expect(suback.granted).toEqual([...Array.from({ length: 100 }, () => 0), code]);
      // One more in a later SUBSCRIBE is refused too; re-subscribing a held filter is fine.
      raw.send({
        cmd: "subscribe",
        messageId: 2,
        subscriptions: [
          { topic: `${app.name}/user/u1/extra`, qos: 0 },
          { topic: `${app.name}/user/u1/t7`, qos: 1 },
        ],
      });
      expect(((await raw.next("suback")) as { granted: number[] }).granted).toEqual([code, 1]);
      const pub = await connectAs(app, "u1", { clientId: "pub" });
      await pub.publishAsync(`${app.name}/user/u1/t100`, "refused filter", { qos: 0 });
      await pub.publishAsync(`${app.name}/user/u1/t99`, "held filter", { qos: 0 });
      const got = (await raw.next("publish")) as IPublishPacket;
      expect(got.payload.toString()).toBe("held filter");
      await check();
    },
  );
});

describe.concurrent("half-sent packets (slowloris)", () => {
  it.each([4, 5] as const)(
    "a PUBLISH announcing 100 bytes and left at 10 is closed after 10 s, keepalive off (5.0: DISCONNECT 0x8D), level %i",
    { timeout: 30_000 },
    async (version) => {
      const app = await createApp();
      const { check } = await bystanders(app);
      const raw = await RawClient.open(await mqttToken(app, "u1"), version);
      await raw.connect({ clientId: "slowloris", keepalive: 0 });
      const startedAt = Date.now();
      raw.send(Uint8Array.of(0x30, 100, 0, 8, ...new TextEncoder().encode("abcdefgh")));
      // More bytes of the same packet later do not move the deadline.
      setTimeout(() => raw.ws.readyState === raw.ws.OPEN && raw.send(Uint8Array.of(1, 2, 3)), 5000);
      const closed = await rawClosedWithin(raw, 25_000);
      expect(closed.at - startedAt).toBeGreaterThanOrEqual(9_500); // not before the deadline
      if (version === 5) expect(raw.received.at(-1)).toMatchObject({ cmd: "disconnect", reasonCode: 0x8d });
      else expect(raw.received.map((p) => p.cmd)).toEqual(["connack"]);
      await check();
    },
  );

  it("half a CONNECT is closed after 10 s too, before the 30 s CONNECT timeout", {
    timeout: 30_000,
  }, async () => {
    const app = await createApp();
    const { check } = await bystanders(app);
    const raw = await RawClient.open(await mqttToken(app, "u1"), 4);
    const connect = mqttPacket.generate(
      { cmd: "connect", protocolVersion: 4, clientId: "half", clean: true, keepalive: 0 },
      { protocolVersion: 4 },
    );
    const startedAt = Date.now();
    raw.send(connect.subarray(0, 6));
    const closed = await rawClosedWithin(raw, 25_000);
    expect(closed.at - startedAt).toBeGreaterThanOrEqual(9_500);
    expect(raw.received).toEqual([]);
    await check();
  });

  it("a packet completed in time ends its deadline: split over frames 2 s apart, still open 12 s on", {
    timeout: 30_000,
  }, async () => {
    const app = await createApp();
    const watcher = await connectAs(app, "u1", { clientId: "w" });
    await subscribeCodes(watcher, `${app.name}/user/u1/#`);
    const raw = await RawClient.open(await mqttToken(app, "u1"), 4);
    await raw.connect({ clientId: "slowbutfine", keepalive: 0 });
    const publish = mqttPacket.generate(
      {
        cmd: "publish",
        topic: `${app.name}/user/u1/split`,
        payload: "whole",
        qos: 0,
        retain: false,
        dup: false,
      },
      { protocolVersion: 4 },
    );
    const got = nextMessage(watcher, 8000);
    raw.send(publish.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 2000));
    raw.send(publish.subarray(5));
    expect((await got).payload).toBe("whole");
    await new Promise((r) => setTimeout(r, 10_000));
    raw.send({ cmd: "pingreq" });
    expect(await raw.next("pingresp")).toMatchObject({ cmd: "pingresp" });
  });
});

describe.concurrent.each([
  ["a clean session", true],
  ["a persistent session", false],
])("a 3.1.1 subscriber that never acknowledges (%s)", (_name, clean) => {
  const subscriber = async (app: App) => {
    const raw = await RawClient.open(await mqttToken(app, "u1"), 4);
    await raw.connect({ clientId: "slow", clean });
    raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${app.name}/user/u1/#`, qos: 1 }] });
    await raw.next("suback");
    return raw;
  };
  const publishes = (raw: RawClient) => raw.received.filter((p): p is IPublishPacket => p.cmd === "publish");

  it("has at most 100 QoS 1 messages in flight (3.1.1 has no Receive Maximum); QoS 0 behind them is dropped", {
    timeout: 40_000,
  }, async () => {
    const app = await createApp();
    const { watcher, check } = await bystanders(app);
    const raw = await subscriber(app);
    const all = collectN(watcher, 151, 300, 20_000); // the 150 and the QoS 0 one
    for (let i = 0; i < 150; i++) watcher.publish(`${app.name}/user/u1/n`, String(i), { qos: 1 });
    await watcher.publishAsync(`${app.name}/user/u1/q0`, "qos 0", { qos: 0 });
    await raw.quiet(1500);
    expect(publishes(raw).map((p) => p.payload.toString())).toEqual(
      Array.from({ length: 100 }, (_, i) => String(i)),
    );
    // Acknowledging all: the 50 that waited follow, in order; the QoS 0 message was dropped.
    for (const p of publishes(raw)) raw.send({ cmd: "puback", messageId: p.messageId ?? 0 });
    await raw.quiet(1500);
    expect(publishes(raw).map((p) => p.payload.toString())).toEqual(
      Array.from({ length: 150 }, (_, i) => String(i)),
    );
    expect((await all).filter((m) => m.topic.endsWith("/n"))).toHaveLength(150); // the watcher got all
    await check();
  });

  it("in flight at most 1 MiB; 4 MiB wait; past that the oldest waiting are dropped", {
    timeout: 40_000,
  }, async () => {
    const app = await createApp();
    const { watcher, check } = await bystanders(app);
    const raw = await subscriber(app);
    const got = collectN(watcher, 100, 300, 30_000);
    const kib64 = (i: number) =>
      Buffer.concat([Buffer.from(`${String(i).padStart(3, "0")}:`), Buffer.alloc(65532)]);
    for (let i = 0; i < 100; i++) await watcher.publishAsync(`${app.name}/user/u1/big`, kib64(i), { qos: 1 });
    await raw.quiet(1000);
    const label = (p: IPublishPacket) => Number(p.payload.toString().slice(0, 3));
    // 16 × 64 KiB fill the 1 MiB in flight.
    expect(publishes(raw).map(label)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    // 84 waited; 4 MiB hold the newest 64 (36 to 99), 16 to 35 were dropped.
    for (let round = 0; round < 10 && publishes(raw).length < 80; round++) {
      for (const p of publishes(raw)) raw.send({ cmd: "puback", messageId: p.messageId ?? 0 });
      await raw.quiet(500);
    }
    expect(publishes(raw).map(label)).toEqual([
      ...Array.from({ length: 16 }, (_, i) => i),
      ...Array.from({ length: 64 }, (_, i) => 36 + i),
    ]);
    expect((await got).filter((m) => m.topic.endsWith("/big"))).toHaveLength(100); // the watcher got all
    await check();
  });
});
