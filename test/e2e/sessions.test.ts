import mqtt from "mqtt";
import type { IDisconnectPacket } from "mqtt-packet";
import { afterAll, describe, expect, it } from "vitest";
import {
  closeAll,
  closedWithin,
  collect,
  collectN,
  connectAs,
  createApp,
  mqttToken,
  nextMessage,
  open,
  subscribeCodes,
  WS,
} from "./helpers";
import { RawClient } from "./raw";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

describe.concurrent("session takeover [MQTT-3.1.4-3]", () => {
  it("3.1.1: a second connection with the same client id closes the first; the new one works", async () => {
    const app = await createApp();
    const first = await connectAs(app, "u1", { clientId: "phone" });
    const firstClosed = closedWithin(first, 3000);
    const second = await connectAs(app, "u1", { clientId: "phone" });
    await firstClosed;
    expect(second.connected).toBe(true);
    await subscribeCodes(second, `${app.name}/user/u1/#`);
    const got = nextMessage(second);
    await second.publishAsync(`${app.name}/user/u1/x`, "still-here", { qos: 1 });
    expect((await got).payload).toBe("still-here");
  });

  it("5.0: the first connection gets DISCONNECT 0x8E (Session taken over) before the close", async () => {
    const app = await createApp();
    const first = await connectAs(app, "u1", { protocolVersion: 5, clientId: "phone" });
    const disconnect = new Promise<IDisconnectPacket>((resolve) => first.once("disconnect", resolve));
    const firstClosed = closedWithin(first, 3000);
    await connectAs(app, "u1", { protocolVersion: 5, clientId: "phone" });
    expect((await disconnect).reasonCode).toBe(0x8e);
    await firstClosed;
  });

  it("a persistent session moves to the new connection with sessionPresent and its subscriptions", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const first = await open(token, { clientId: "phone", clean: false });
    await subscribeCodes(first.client, `${app.name}/user/u1/#`, { qos: 1 });
    const second = await open(token, { clientId: "phone", clean: false });
    expect(second.connack.sessionPresent).toBe(true);
    const pub = await connectAs(app, "u1", { clientId: "pub" });
    const got = nextMessage(second.client);
    await pub.publishAsync(`${app.name}/user/u1/x`, "to-new", { qos: 1 });
    expect((await got).payload).toBe("to-new");
  });

  it("the old connection's will goes out when its session ends (clean), not when the session moves on", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const watcher = await connectAs(app, "u1", { clientId: "watcher" });
    await subscribeCodes(watcher, `${u}/#`);
    const will = (payload: string) => ({
      will: { topic: `${u}/gone`, payload: Buffer.from(payload), qos: 1 as const, retain: false },
    });
    const got = collectN(watcher, 1, 600);
    await connectAs(app, "u1", { clientId: "clean", clean: true, ...will("clean-old") });
    await connectAs(app, "u1", { clientId: "clean", clean: true });
    await connectAs(app, "u1", { clientId: "kept", clean: false, ...will("kept-old") });
    await connectAs(app, "u1", { clientId: "kept", clean: false });
    expect((await got).map((m) => m.payload)).toEqual(["clean-old"]);
  });

  it("taking over a clean-session connection with clean=false starts a new session (sessionPresent false)", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const first = await open(token, { clientId: "phone", clean: true });
    await subscribeCodes(first.client, `${app.name}/user/u1/#`);
    const second = await open(token, { clientId: "phone", clean: false });
    expect(second.connack.sessionPresent).toBe(false);
    const got = collect(second.client, 600);
    const pub = await connectAs(app, "u1", { clientId: "pub" });
    await pub.publishAsync(`${app.name}/user/u1/x`, "old-subscription", { qos: 1 });
    expect(await got).toEqual([]); // the clean session's subscription ended with it
  });

  it("the same client id under another identity is another session (no takeover across users)", async () => {
    const app = await createApp();
    const u1 = await connectAs(app, "u1", { clientId: "phone" });
    await connectAs(app, "u2", { clientId: "phone" });
    await new Promise((r) => setTimeout(r, 300));
    expect(u1.connected).toBe(true);
  });
});

describe.concurrent("client identifiers", () => {
  it("5.0: an empty client id gets an Assigned Client Identifier [MQTT-3.2.2-16]", async () => {
    const app = await createApp();
    const a = await open(await mqttToken(app, "u1"), { protocolVersion: 5, clientId: "", clean: true });
    const assigned = a.connack.properties?.assignedClientIdentifier;
    expect(assigned).toMatch(/^\S+$/);
    const b = await open(await mqttToken(app, "u1"), { protocolVersion: 5, clientId: "", clean: true });
    expect(b.connack.properties?.assignedClientIdentifier).not.toBe(assigned);
    // Two assigned ids: no takeover between them.
    await new Promise((r) => setTimeout(r, 200));
    expect(a.client.connected).toBe(true);
  });

  it("3.1.1: an empty client id with clean session is accepted [MQTT-3.1.3-6]", async () => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"));
    expect(await raw.connect({ clientId: "", clean: true })).toMatchObject({
      returnCode: 0,
      sessionPresent: false,
    });
  });

  it("3.1.1: an empty client id without clean session is refused with return code 2, then closed [MQTT-3.1.3-8]", async () => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"));
    // mqtt.js and mqtt-packet refuse to write this CONNECT: by hand, flags 0x00, keepalive 0, id "".
    raw.send(
      Uint8Array.of(0x10, 12, 0, 4, ..."MQTT".split("").map((c) => c.charCodeAt(0)), 4, 0x00, 0, 0, 0, 0),
    );
    expect(await raw.next("connack")).toMatchObject({ returnCode: 2, sessionPresent: false });
    await raw.closed;
  });
});

describe.concurrent("user name (CONTRACT §3: a non-empty user name must equal the token's subject)", () => {
  it.each([
    [4, 4],
    [5, 0x86],
  ] as const)("level %i: another user name is refused with code %i", async (protocolVersion, code) => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const err = await mqtt
      .connectAsync(`${WS}/mqtt?token=${token}`, {
        protocolVersion,
        clientId: "c",
        username: "u2",
        password: "whatever",
        reconnectPeriod: 0,
      })
      .then(
        (c) => {
          c.end(true);
          return null;
        },
        (e: Error & { code?: number }) => e,
      );
    expect(err?.code).toBe(code);
  });

  it("the seed's shared account xunqun/xunqun is refused like any other user name", async () => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"));
    expect(
      await raw.connect({ clientId: "c", username: "xunqun", password: Buffer.from("xunqun") }),
    ).toMatchObject({
      returnCode: 4,
    });
    await raw.closed;
  });

  it("the token's subject as user name (any password) is accepted", async () => {
    const app = await createApp();
    const c = await connectAs(app, "u1", { clientId: "c", username: "u1", password: "ignored" });
    expect(c.connected).toBe(true);
  });
});

describe.concurrent("CONNECT rules", () => {
  it("a second CONNECT on a connection closes it [MQTT-3.1.0-2]", async () => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"));
    await raw.connect({ clientId: "c" });
    raw.send({ cmd: "connect", protocolVersion: 4, clientId: "c", clean: true, keepalive: 0 });
    expect((await raw.closed).code).toBeGreaterThanOrEqual(1000);
  });

  it("5.0: Receive Maximum 0 in CONNECT is a protocol error (CONNACK 0x82)", async () => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    expect(await raw.connect({ clientId: "c", properties: { receiveMaximum: 0 } })).toMatchObject({
      reasonCode: 0x82,
    });
  });

  it("5.0: CONNACK announces the broker's limits", async () => {
    const app = await createApp();
    const a = await open(await mqttToken(app, "u1"), { protocolVersion: 5, clientId: "c" });
    expect(a.connack.properties).toMatchObject({
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    });
    expect(a.connack.properties?.topicAliasMaximum).toBeGreaterThan(0);
    expect(a.connack.properties?.receiveMaximum).toBeGreaterThan(0);
  });
});
