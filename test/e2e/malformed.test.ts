import { afterAll, describe, expect, it } from "vitest";
import {
  closeAll,
  collect,
  collectN,
  connectAs,
  createApp,
  mqttToken,
  nextMessage,
  subscribeCodes,
} from "./helpers";
import { RawClient } from "./raw";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const str = (s: string) => [0, s.length, ...ascii(s)];

/** A hand-written 3.1.1 CONNECT: clean session, keepalive 0, the client id, and a will when given. */
const connect311 = (clientId: string, will?: { topic: string; payload: string }) => {
  const body = [
    ...str("MQTT"),
    4,
    will ? 0x02 | 0x04 : 0x02,
    0,
    0,
    ...str(clientId),
    ...(will ? [...str(will.topic), ...str(will.payload)] : []),
  ];
  return Uint8Array.of(0x10, body.length, ...body);
};

/** A hand-written QoS 0 PUBLISH. */
const publish0 = (topic: string, payload: string) => {
  const body = [...str(topic), ...ascii(payload)];
  return Uint8Array.of(0x30, body.length, ...body);
};

const PINGREQ = Uint8Array.of(0xc0, 0x00);

describe.concurrent("malformed input closes the connection", () => {
  it.each([
    ["reserved packet type 0", [0x00, 0x00]],
    ["a Remaining Length of five bytes", [0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]],
    ["random bytes", [0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03]],
  ])("garbage before CONNECT (%s): closed, nothing answered", async (_n, bytes) => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"));
    raw.send(Uint8Array.from(bytes));
    const closed = await raw.closed;
    expect(closed.code).not.toBe(1000);
    expect(raw.received).toEqual([]);
  });

  it("a first packet other than CONNECT: closed, and its PUBLISH is not routed [MQTT-3.1.0-1]", async () => {
    const app = await createApp();
    const watcher = await connectAs(app, "u1", { clientId: "watcher" });
    await subscribeCodes(watcher, `${app.name}/user/u1/#`);
    const got = collect(watcher, 600);
    for (const first of [PINGREQ, publish0(`${app.name}/user/u1/x`, "sneaky")]) {
      const raw = await RawClient.open(await mqttToken(app, "u1"));
      raw.send(first);
      await raw.closed;
      expect(raw.received).toEqual([]);
    }
    expect(await got).toEqual([]);
  });

  it("a text frame closes the connection, before and after CONNECT [MQTT-6.0.0-1]", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const before = await RawClient.open(token);
    before.ws.send("CONNECT please");
    await before.closed;
    const after = await RawClient.open(token);
    await after.connect({ clientId: "t" });
    after.ws.send("hello");
    await after.closed;
  });

  it("an unsupported protocol level (MQIsdp 3) gets CONNACK return code 1, then the close [MQTT-3.1.2-2]", async () => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"));
    const body = [...str("MQIsdp"), 3, 0x02, 0, 60, ...str("old")];
    raw.send(Uint8Array.of(0x10, body.length, ...body));
    expect(await raw.next("connack")).toMatchObject({ returnCode: 1, sessionPresent: false });
    await raw.closed;
  });

  it("a protocol level above 5 gets a 5.0 CONNACK 0x84", async () => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    const body = [...str("MQTT"), 6, 0x02, 0, 60, 0, ...str("future")];
    raw.send(Uint8Array.of(0x10, body.length, ...body));
    expect(await raw.next("connack")).toMatchObject({ reasonCode: 0x84 });
    await raw.closed;
  });

  it("a malformed packet after CONNECT closes the connection and publishes its will", async () => {
    const app = await createApp();
    const watcher = await connectAs(app, "u1", { clientId: "watcher" });
    await subscribeCodes(watcher, `${app.name}/user/u1/#`);
    const will = nextMessage(watcher);
    const raw = await RawClient.open(await mqttToken(app, "u1"));
    raw.send(connect311("bad", { topic: `${app.name}/user/u1/gone`, payload: "broken" }));
    await raw.next("connack");
    raw.send(Uint8Array.of(0x36, 0x00)); // PUBLISH with QoS 3 [MQTT-3.3.1-4]
    await raw.closed;
    expect((await will).payload).toBe("broken");
  });

  it("5.0: a malformed packet after CONNECT gets DISCONNECT 0x81 first [MQTT-4.13.1-1]", async () => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "bad5" });
    raw.send(Uint8Array.of(0x82, 0x02, 0x00, 0x01)); // SUBSCRIBE with no property length, no filters
    expect(await raw.next("disconnect")).toMatchObject({ reasonCode: 0x81 });
    await raw.closed;
  });

  it("5.0: a packet over the broker's Maximum Packet Size gets DISCONNECT 0x95", async () => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    const ack = await raw.connect({ clientId: "big" });
    const max = (ack as { properties?: { maximumPacketSize?: number } }).properties?.maximumPacketSize ?? 0;
    expect(max).toBeGreaterThan(0);
    const len = max + 10; // only the fixed header is needed to know
    raw.send(Uint8Array.of(0x30, (len & 0x7f) | 0x80, ((len >> 7) & 0x7f) | 0x80, (len >> 14) & 0x7f));
    expect(await raw.next("disconnect")).toMatchObject({ reasonCode: 0x95 });
    await raw.closed;
  });
});

describe.concurrent("framing that is fine", () => {
  it("a CONNECT split over two frames and several packets in one frame are understood", async () => {
    const app = await createApp();
    const watcher = await connectAs(app, "u1", { clientId: "watcher" });
    await subscribeCodes(watcher, `${app.name}/user/u1/#`);
    const got = collectN(watcher, 2);
    const raw = await RawClient.open(await mqttToken(app, "u1"));
    const c = connect311("split");
    raw.send(c.subarray(0, 5));
    raw.send(c.subarray(5));
    expect(await raw.next("connack")).toMatchObject({ returnCode: 0 });
    const both = [
      ...publish0(`${app.name}/user/u1/a`, "1"),
      ...publish0(`${app.name}/user/u1/b`, "2"),
      ...PINGREQ,
    ];
    raw.send(Uint8Array.from(both));
    expect(await raw.next("pingresp")).toMatchObject({ cmd: "pingresp" });
    expect((await got).map((m) => m.payload)).toEqual(["1", "2"]);
  });
});

describe.concurrent("isolation", () => {
  it("one bad client does not affect another client of the same identity", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const good = await connectAs(app, "u1", { clientId: "good", clean: false });
    await subscribeCodes(good, `${app.name}/user/u1/#`);
    for (const bytes of [Uint8Array.of(0xf0, 0xff, 0xff, 0xff, 0xff), Uint8Array.of(0x00)]) {
      const bad = await RawClient.open(token);
      bad.send(connect311("bad"));
      await bad.next("connack");
      bad.send(bytes);
      await bad.closed;
    }
    const text = await RawClient.open(token);
    text.ws.send("junk");
    await text.closed;
    expect(good.connected).toBe(true);
    const got = nextMessage(good);
    await good.publishAsync(`${app.name}/user/u1/still`, "fine", { qos: 1 });
    expect((await got).payload).toBe("fine");
  });
});
