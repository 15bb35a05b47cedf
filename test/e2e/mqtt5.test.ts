import type { IPublishPacket } from "mqtt-packet";
import { afterAll, describe, expect, it } from "vitest";
import {
  closeAll,
  collectN,
  connectAs,
  createApp,
  mqttToken,
  nextMessage,
  open,
  sleep,
  subscribeCodes,
} from "./helpers";
import { RawClient } from "./raw";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

const v5 = { protocolVersion: 5 as const };

describe.concurrent("MQTT 5 message properties", () => {
  it("forwards user properties, content type, payload format, response topic and correlation data", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const sub = await connectAs(app, "u1", { ...v5, clientId: "sub" });
    await subscribeCodes(sub, `${u}/#`);
    const got = nextMessage(sub);
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    await pub.publishAsync(`${u}/req`, '{"q":1}', {
      qos: 1,
      properties: {
        userProperties: { trace: "abc", lang: "zh" },
        contentType: "application/json",
        payloadFormatIndicator: true,
        responseTopic: `${u}/reply`,
        correlationData: Buffer.from([1, 2, 3, 254]),
      },
    });
    const p = (await got).packet.properties ?? {};
    expect(p.userProperties).toEqual({ trace: "abc", lang: "zh" });
    expect(p.contentType).toBe("application/json");
    expect(p.payloadFormatIndicator).toBe(true);
    expect(p.responseTopic).toBe(`${u}/reply`);
    expect([...(p.correlationData ?? [])]).toEqual([1, 2, 3, 254]);
  });

  it("a 3.1.1 subscriber gets the same message without properties", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const sub = await connectAs(app, "u1", { clientId: "sub311" });
    await subscribeCodes(sub, `${u}/#`);
    const got = nextMessage(sub);
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    await pub.publishAsync(`${u}/x`, "plain", { qos: 1, properties: { contentType: "text/plain" } });
    const m = await got;
    expect(m.payload).toBe("plain");
    expect(m.packet.properties).toBeUndefined();
  });

  it("Payload Format Indicator 1 with invalid UTF-8 gets PUBACK 0x99 and is dropped", async () => {
    const app = await createApp();
    const c = await connectAs(app, "u1", { ...v5, clientId: "c" });
    const err = await c
      .publishAsync(`${app.name}/user/u1/x`, Buffer.from([0xff, 0xfe]), {
        qos: 1,
        properties: { payloadFormatIndicator: true },
      })
      .catch((e) => e);
    expect((err as { code?: number }).code).toBe(0x99);
  });
});

describe.concurrent("Message Expiry Interval", () => {
  it("an expired queued message is not delivered; a live one arrives with the time left [MQTT-3.3.2-5/6]", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const token = await mqttToken(app, "u1");
    const o = { ...v5, clientId: "phone", clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await open(token, o);
    await subscribeCodes(first.client, `${u}/#`);
    await first.client.endAsync();
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    await pub.publishAsync(`${u}/a`, "short", { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync(`${u}/b`, "long", { qos: 1, properties: { messageExpiryInterval: 100 } });
    await pub.publishAsync(`${u}/c`, "forever", { qos: 1 });
    await sleep(1500);
    const back = await open(token, o);
    expect(back.connack.sessionPresent).toBe(true);
    await sleep(500);
    expect(back.messages.map((m) => m.payload)).toEqual(["long", "forever"]);
    const left = back.messages[0]?.packet.properties?.messageExpiryInterval ?? 0;
    expect(left).toBeGreaterThanOrEqual(97);
    expect(left).toBeLessThanOrEqual(99);
    expect(back.messages[1]?.packet.properties?.messageExpiryInterval).toBeUndefined();
  });
});

describe.concurrent("topic aliases from the client [MQTT-3.3.2-12]", () => {
  it("a PUBLISH with an empty topic and a known alias is routed to the aliased topic", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const sub = await connectAs(app, "u1", { ...v5, clientId: "sub" });
    await subscribeCodes(sub, `${u}/#`);
    const got = collectN(sub, 4);
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "alias" });
    const base = { cmd: "publish", qos: 0, retain: false, dup: false } as const;
    raw.send({ ...base, topic: `${u}/locate`, payload: "1", properties: { topicAlias: 3 } });
    raw.send({ ...base, topic: "", payload: "2", properties: { topicAlias: 3 } });
    raw.send({ ...base, topic: `${u}/talk`, payload: "3", properties: { topicAlias: 3 } }); // re-mapped
    raw.send({ ...base, topic: "", payload: "4", properties: { topicAlias: 3 } });
    expect((await got).map((m) => [m.topic, m.payload])).toEqual([
      [`${u}/locate`, "1"],
      [`${u}/locate`, "2"],
      [`${u}/talk`, "3"],
      [`${u}/talk`, "4"],
    ]);
  });

  it("mqtt.js autoUseTopicAlias works end to end", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const sub = await connectAs(app, "u1", { ...v5, clientId: "sub" });
    await subscribeCodes(sub, `${u}/#`);
    const got = collectN(sub, 3);
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub", autoUseTopicAlias: true });
    for (const p of ["a", "b", "c"]) await pub.publishAsync(`${u}/same`, p, { qos: 1 });
    expect((await got).map((m) => `${m.topic}=${m.payload}`)).toEqual([
      `${u}/same=a`,
      `${u}/same=b`,
      `${u}/same=c`,
    ]);
  });

  it("an alias above the broker's Topic Alias Maximum gets DISCONNECT 0x94", async () => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    const ack = await raw.connect({ clientId: "c" });
    const max = (ack as { properties?: { topicAliasMaximum?: number } }).properties?.topicAliasMaximum ?? 0;
    raw.send({
      cmd: "publish",
      topic: `${app.name}/user/u1/x`,
      payload: "",
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: max + 1 },
    });
    expect(await raw.next("disconnect")).toMatchObject({ reasonCode: 0x94 });
    await raw.closed;
  });

  it("an empty topic with an alias never set gets DISCONNECT 0x82", async () => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "c" });
    raw.send({
      cmd: "publish",
      topic: "",
      payload: "x",
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 1 },
    });
    expect(await raw.next("disconnect")).toMatchObject({ reasonCode: 0x82 });
  });
});

describe.concurrent("subscription identifiers [MQTT-3.3.4-3]", () => {
  it("a delivery carries the identifiers of every matching subscription", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const sub = await connectAs(app, "u1", { ...v5, clientId: "sub" });
    await subscribeCodes(sub, `${u}/#`, { qos: 1, properties: { subscriptionIdentifier: 7 } });
    await subscribeCodes(sub, `${u}/+`, { qos: 1, properties: { subscriptionIdentifier: 300 } });
    await subscribeCodes(sub, `${u}/deep/x`, { qos: 1 });
    const packets: IPublishPacket[] = [];
    sub.on("message", (_t, _p, packet) => packets.push(packet));
    const got = collectN(sub, 2);
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    await pub.publishAsync(`${u}/talk`, "both", { qos: 1 });
    await pub.publishAsync(`${u}/deep/x`, "one", { qos: 1 });
    expect((await got).map((m) => m.payload)).toEqual(["both", "one"]);
    const ids = (p: IPublishPacket) =>
      [p.properties?.subscriptionIdentifier ?? []].flat().sort((a, b) => a - b);
    expect(packets.map(ids)).toEqual([[7, 300], [7]]);
  });
});

describe.concurrent("the client's own limits", () => {
  it("Maximum Packet Size: bigger messages are not sent to it, smaller ones still are [MQTT-3.1.2-25]", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const small = await open(await mqttToken(app, "u1"), {
      ...v5,
      clientId: "small",
      properties: { maximumPacketSize: 200 },
    });
    await subscribeCodes(small.client, `${u}/#`);
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    await pub.publishAsync(`${u}/x`, "a".repeat(500), { qos: 1 });
    await pub.publishAsync(`${u}/x`, "b".repeat(500), { qos: 0 });
    await pub.publishAsync(`${u}/x`, "tiny", { qos: 1 });
    await sleep(500);
    expect(small.messages.map((m) => m.payload)).toEqual(["tiny"]);
    expect(small.client.connected).toBe(true);
  });

  it("Receive Maximum: no more unacknowledged QoS 1 PUBLISHes in flight than the client allows [MQTT-3.3.4-9]", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "slow", properties: { receiveMaximum: 2 } });
    raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${u}/#`, qos: 1 }] });
    await raw.next("suback");
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    for (const p of ["1", "2", "3", "4"]) await pub.publishAsync(`${u}/x`, p, { qos: 1 });
    const inFlight = (await raw.quiet(500)) as IPublishPacket[];
    expect(inFlight.map((p) => p.payload.toString())).toEqual(["1", "2"]);
    raw.send({ cmd: "puback", messageId: inFlight[0]?.messageId ?? 0 });
    const third = (await raw.next("publish")) as IPublishPacket;
    expect(third.payload.toString()).toBe("3");
    expect(await raw.quiet(300)).toEqual([]);
  });
  it("a clean session past its Receive Maximum gets every QoS 1 message in order, in-flight ids distinct", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "window", properties: { receiveMaximum: 3 } });
    raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${u}/#`, qos: 1 }] });
    await raw.next("suback");
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    const sent = Array.from({ length: 10 }, (_, i) => String(i + 1));
    for (const p of sent) await pub.publishAsync(`${u}/x`, p, { qos: 1 });
    const inFlight = (await raw.quiet(500)) as IPublishPacket[];
    expect(inFlight).toHaveLength(3);
    const got = [...inFlight];
    while (got.length < sent.length) {
      const done = inFlight.shift() as IPublishPacket;
      raw.send({ cmd: "puback", messageId: done.messageId ?? 0 });
      const next = (await raw.next("publish")) as IPublishPacket;
      expect(inFlight.map((p) => p.messageId)).not.toContain(next.messageId);
      inFlight.push(next);
      got.push(next);
    }
    expect(got.map((p) => p.payload.toString())).toEqual(sent);
    expect(got.every((p) => p.qos === 1 && !p.dup)).toBe(true);
    expect(await raw.quiet(300)).toEqual([]);
  });
});

describe.concurrent("session expiry set at DISCONNECT", () => {
  it("DISCONNECT with Session Expiry 0 ends a persistent session", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const o = { ...v5, clientId: "phone", clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await open(token, o);
    await subscribeCodes(first.client, `${app.name}/user/u1/#`);
    await first.client.endAsync(false, { reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await sleep(200);
    expect((await open(token, o)).connack.sessionPresent).toBe(false);
  });
});
