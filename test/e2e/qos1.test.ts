import type { Packet } from "mqtt-packet";
import { afterAll, describe, expect, it } from "vitest";
import {
  closeAll,
  collect,
  connectAs,
  createApp,
  kill,
  mqttToken,
  nextMessage,
  open,
  sleep,
  subscribeCodes,
} from "./helpers";
import { RawClient } from "./raw";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

describe.concurrent("QoS 1", () => {
  it.each([4, 5] as const)("level %i: the broker PUBACKs a QoS 1 PUBLISH with its packet id", async (v) => {
    const app = await createApp();
    const c = await connectAs(app, "u1", { protocolVersion: v, clientId: "c" });
    const acks: Packet[] = [];
    c.on("packetreceive", (p) => {
      if (p.cmd === "puback") acks.push(p);
    });
    const sent: number[] = [];
    c.on("packetsend", (p) => {
      if (p.cmd === "publish" && p.messageId) sent.push(p.messageId);
    });
    await c.publishAsync(`${app.name}/user/u1/a`, "1", { qos: 1 });
    await c.publishAsync(`${app.name}/user/u1/b`, "2", { qos: 1 });
    expect(acks.map((a) => a.messageId)).toEqual(sent);
    expect(acks.every((a) => !("reasonCode" in a) || !a.reasonCode)).toBe(true);
  });

  it("delivers at QoS 1 with a packet id, and the client's PUBACK completes it", async () => {
    const app = await createApp();
    const pub = await connectAs(app, "u1", { clientId: "pub" });
    const sub = await connectAs(app, "u1", { clientId: "sub" });
    await subscribeCodes(sub, `${app.name}/user/u1/#`, { qos: 1 });
    const acked: number[] = [];
    sub.on("packetsend", (p) => {
      if (p.cmd === "puback" && p.messageId) acked.push(p.messageId);
    });
    const got = nextMessage(sub);
    await pub.publishAsync(`${app.name}/user/u1/talk`, "q1", { qos: 1 });
    const m = await got;
    expect(m.packet.qos).toBe(1);
    expect(m.packet.messageId).toBeGreaterThan(0);
    await sleep(50);
    expect(acked).toEqual([m.packet.messageId]);
  });

  it("resends an unacknowledged QoS 1 PUBLISH with DUP set and the same id on resume [MQTT-4.4.0-1]", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const raw = await RawClient.open(token);
    await raw.connect({ clientId: "slow", clean: false });
    raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${app.name}/user/u1/#`, qos: 1 }] });
    await raw.next("suback");
    const pub = await connectAs(app, "u1", { clientId: "pub" });
    await pub.publishAsync(`${app.name}/user/u1/talk`, "unacked", { qos: 1 });
    const first = (await raw.next("publish")) as Packet & { messageId: number; dup: boolean };
    expect(first.dup).toBe(false);
    raw.kill(); // no PUBACK
    await raw.closed;

    const again = await RawClient.open(token);
    expect(await again.connect({ clientId: "slow", clean: false })).toMatchObject({ sessionPresent: true });
    const resent = (await again.next("publish")) as Packet & {
      messageId: number;
      dup: boolean;
      payload: Buffer;
    };
    expect(resent).toMatchObject({ messageId: first.messageId, dup: true, qos: 1 });
    expect(resent.payload.toString()).toBe("unacked");
    again.send({ cmd: "puback", messageId: resent.messageId });
    expect(await again.quiet(400)).toEqual([]);
  });
});

describe.concurrent.each([
  ["3.1.1 clean=false", { protocolVersion: 4 as const, clean: false }],
  [
    "5.0 sessionExpiryInterval",
    { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 60 } },
  ],
])("persistent session (%s)", (_name, persistent) => {
  it("gets the QoS 1 messages published while it was offline, with sessionPresent, in order", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const first = await open(token, { ...persistent, clientId: "phone" });
    expect(first.connack.sessionPresent).toBe(false);
    await subscribeCodes(first.client, `${app.name}/user/u1/#`, { qos: 1 });
    await first.client.endAsync();

    const pub = await connectAs(app, "u1", { clientId: "server" });
    await pub.publishAsync(`${app.name}/user/u1/talk`, "m1", { qos: 1 });
    await pub.publishAsync(`${app.name}/user/u1/talk`, "q0", { qos: 0 }); // QoS 0 is not queued
    await pub.publishAsync(`${app.name}/user/u1/locate`, "m2", { qos: 1 });

    const back = await open(token, { ...persistent, clientId: "phone" });
    expect(back.connack.sessionPresent).toBe(true);
    await sleep(500);
    expect(back.messages.map((m) => [m.topic, m.payload, m.packet.qos])).toEqual([
      [`${app.name}/user/u1/talk`, "m1", 1],
      [`${app.name}/user/u1/locate`, "m2", 1],
    ]);
    // The subscription survived too: a live message arrives without subscribing again.
    const live = nextMessage(back.client);
    await pub.publishAsync(`${app.name}/user/u1/talk`, "live", { qos: 1 });
    expect((await live).payload).toBe("live");
  });

  it("keeps queueing after an abnormal close", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const first = await open(token, { ...persistent, clientId: "phone" });
    await subscribeCodes(first.client, `${app.name}/user/u1/#`, { qos: 1 });
    kill(first.client);
    await sleep(200);
    const pub = await connectAs(app, "u1", { clientId: "server" });
    await pub.publishAsync(`${app.name}/user/u1/talk`, "while-gone", { qos: 1 });
    const back = await open(token, { ...persistent, clientId: "phone" });
    expect(back.connack.sessionPresent).toBe(true);
    await sleep(400);
    expect(back.messages.map((m) => m.payload)).toEqual(["while-gone"]);
  });
});

describe.concurrent("clean sessions", () => {
  it.each([
    ["3.1.1 clean=true", { protocolVersion: 4 as const, clean: true }],
    ["5.0 clean start, no session expiry", { protocolVersion: 5 as const, clean: true }],
    ["5.0 clean start=0, session expiry 0", { protocolVersion: 5 as const, clean: false }],
  ])("%s: gets nothing published while offline, and sessionPresent is false", async (_n, o) => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const first = await open(token, { ...o, clientId: "phone" });
    await subscribeCodes(first.client, `${app.name}/user/u1/#`, { qos: 1 });
    await first.client.endAsync();
    const pub = await connectAs(app, "u1", { clientId: "server" });
    await pub.publishAsync(`${app.name}/user/u1/talk`, "lost", { qos: 1 });
    const back = await open(token, { ...o, clientId: "phone" });
    expect(back.connack.sessionPresent).toBe(false);
    const late = collect(back.client, 500);
    expect([...back.messages, ...(await late)]).toEqual([]);
  });

  it("a clean start discards a stored session and its queue [MQTT-3.1.2-4]", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const first = await open(token, { clean: false, clientId: "phone" });
    await subscribeCodes(first.client, `${app.name}/user/u1/#`, { qos: 1 });
    await first.client.endAsync();
    const pub = await connectAs(app, "u1", { clientId: "server" });
    await pub.publishAsync(`${app.name}/user/u1/talk`, "queued", { qos: 1 });
    const clean = await open(token, { clean: true, clientId: "phone" });
    expect(clean.connack.sessionPresent).toBe(false);
    await clean.client.endAsync();
    const back = await open(token, { clean: false, clientId: "phone" });
    expect(back.connack.sessionPresent).toBe(false);
    await sleep(400);
    expect(back.messages).toEqual([]);
  });

  it("a 5.0 session expires after its Session Expiry Interval", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const o = {
      protocolVersion: 5 as const,
      clean: false,
      clientId: "phone",
      properties: { sessionExpiryInterval: 1 },
    };
    const first = await open(token, o);
    await subscribeCodes(first.client, `${app.name}/user/u1/#`, { qos: 1 });
    await first.client.endAsync();
    await sleep(2200);
    const back = await open(token, o);
    expect(back.connack.sessionPresent).toBe(false);
  });
});
