import { afterAll, describe, expect, it } from "vitest";
import {
  closeAll,
  collectN,
  connectAs,
  createApp,
  makeGroup,
  nextMessage,
  type Received,
  subscribeCodes,
} from "./helpers";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

/** Subscribes and answers what arrives in the next `ms` (retained messages come right after SUBACK). */
const subscribeAndCollect = async (
  client: Awaited<ReturnType<typeof connectAs>>,
  filter: string,
  opts: Parameters<typeof subscribeCodes>[2],
  ms = 500,
) => {
  const got: Received[] = [];
  const on = (topic: string, payload: Buffer, packet: Received["packet"]) =>
    got.push({ topic, payload: payload.toString(), packet });
  client.on("message", on);
  await subscribeCodes(client, filter, opts);
  await new Promise((r) => setTimeout(r, ms));
  client.off("message", on);
  return got;
};

describe.concurrent.each([4, 5] as const)("retained messages, MQTT level %i", (protocolVersion) => {
  it("a retained message on a user topic reaches a later subscription with RETAIN set [MQTT-3.3.1-6]", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const pub = await connectAs(app, "u1", { protocolVersion, clientId: "pub" });
    await pub.publishAsync(`${u}/config`, '{"volume":3}', { qos: 1, retain: true });
    await pub.publishAsync(`${u}/other`, "not-retained", { qos: 1 });
    const sub = await connectAs(app, "u1", { protocolVersion, clientId: "sub" });
    const got = await subscribeAndCollect(sub, `${u}/#`, { qos: 1 });
    expect(got.map((m) => [m.topic, m.payload, m.packet.retain, m.packet.qos])).toEqual([
      [`${u}/config`, '{"volume":3}', true, 1],
    ]);
  });

  it("a live delivery to an existing subscription has RETAIN cleared [MQTT-3.3.1-9]", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const pub = await connectAs(app, "u1", { protocolVersion, clientId: "pub" });
    const sub = await connectAs(app, "u1", { protocolVersion, clientId: "sub" });
    await subscribeCodes(sub, `${u}/#`, { qos: 1 });
    const got = nextMessage(sub);
    await pub.publishAsync(`${u}/config`, "live", { qos: 1, retain: true });
    expect((await got).packet.retain).toBe(false);
  });

  it("a newer retained message replaces the older; an empty retained payload clears it [MQTT-3.3.1-10]", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const pub = await connectAs(app, "u1", { protocolVersion, clientId: "pub" });
    await pub.publishAsync(`${u}/a`, "old", { qos: 1, retain: true });
    await pub.publishAsync(`${u}/a`, "new", { qos: 1, retain: true });
    await pub.publishAsync(`${u}/b`, "b", { qos: 1, retain: true });
    const s1 = await connectAs(app, "u1", { protocolVersion, clientId: "s1" });
    expect((await subscribeAndCollect(s1, `${u}/+`, { qos: 0 })).map((m) => m.payload).sort()).toEqual([
      "b",
      "new",
    ]);
    await pub.publishAsync(`${u}/a`, "", { qos: 1, retain: true });
    const s2 = await connectAs(app, "u1", { protocolVersion, clientId: "s2" });
    expect((await subscribeAndCollect(s2, `${u}/+`, { qos: 0 })).map((m) => m.payload)).toEqual(["b"]);
  });

  it("delivers retained messages at the lower of their QoS and the subscription's", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const pub = await connectAs(app, "u1", { protocolVersion, clientId: "pub" });
    await pub.publishAsync(`${u}/q2`, "two", { qos: 2, retain: true });
    await pub.publishAsync(`${u}/q0`, "zero", { qos: 0, retain: true });
    const sub = await connectAs(app, "u1", { protocolVersion, clientId: "sub" });
    const got = await subscribeAndCollect(sub, `${u}/#`, { qos: 1 });
    expect(Object.fromEntries(got.map((m) => [m.payload, m.packet.qos]))).toEqual({ two: 1, zero: 0 });
  });

  it("a retained message on a group topic reaches a member subscribing later, not before it is a member", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1", "u2"]);
    const g = `${app.name}/group/fam`;
    const pub = await connectAs(app, "u1", { protocolVersion, clientId: "pub" });
    await pub.publishAsync(`${g}/notice`, "family-rule", { qos: 1, retain: true });
    const u2 = await connectAs(app, "u2", { protocolVersion, clientId: "u2" });
    const got = await subscribeAndCollect(u2, `${g}/#`, { qos: 1 });
    expect(got.map((m) => [m.topic, m.payload, m.packet.retain])).toEqual([
      [`${g}/notice`, "family-rule", true],
    ]);
    // Through `<app>/group/+/#` as well.
    const u2b = await connectAs(app, "u2", { protocolVersion, clientId: "u2b" });
    const viaPlus = await subscribeAndCollect(u2b, `${app.name}/group/+/#`, { qos: 1 });
    expect(viaPlus.map((m) => m.payload)).toEqual(["family-rule"]);
    // Cleared by an empty retained payload.
    await pub.publishAsync(`${g}/notice`, "", { qos: 1, retain: true });
    const u2c = await connectAs(app, "u2", { protocolVersion, clientId: "u2c" });
    expect(await subscribeAndCollect(u2c, `${g}/#`, { qos: 1 })).toEqual([]);
  });
});

describe.concurrent("MQTT 5 retain options", () => {
  it("Retain Handling 0 sends retained messages on every subscribe, 1 only for a new subscription, 2 never", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const pub = await connectAs(app, "u1", { protocolVersion: 5, clientId: "pub" });
    await pub.publishAsync(`${u}/config`, "cfg", { qos: 1, retain: true });
    const c = await connectAs(app, "u1", { protocolVersion: 5, clientId: "c" });
    const payloads = async (filter: string, rh: 0 | 1 | 2) =>
      (await subscribeAndCollect(c, filter, { qos: 1, rh }, 400)).map((m) => m.payload);

    expect(await payloads(`${u}/#`, 0)).toEqual(["cfg"]);
    expect(await payloads(`${u}/#`, 0)).toEqual(["cfg"]); // [MQTT-3.3.1-9] again on re-subscribe
    expect(await payloads(`${u}/+`, 1)).toEqual(["cfg"]); // new subscription
    expect(await payloads(`${u}/+`, 1)).toEqual([]); // [MQTT-3.3.1-10] existing one
    expect(await payloads(`${u}/config`, 2)).toEqual([]); // [MQTT-3.3.1-11]
  });

  it("Retain As Published keeps the RETAIN flag on live deliveries [MQTT-3.3.1-12]", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const pub = await connectAs(app, "u1", { protocolVersion: 5, clientId: "pub" });
    const rap = await connectAs(app, "u1", { protocolVersion: 5, clientId: "rap" });
    const plain = await connectAs(app, "u1", { protocolVersion: 5, clientId: "plain" });
    await subscribeCodes(rap, `${u}/#`, { qos: 1, rap: true });
    await subscribeCodes(plain, `${u}/#`, { qos: 1, rap: false });
    const atRap = collectN(rap, 2);
    const atPlain = nextMessage(plain);
    const flags: boolean[] = [];
    rap.on("message", (_t, _p, packet) => flags.push(packet.retain));
    await pub.publishAsync(`${u}/a`, "r", { qos: 1, retain: true });
    await pub.publishAsync(`${u}/a`, "n", { qos: 1, retain: false });
    expect((await atPlain).packet.retain).toBe(false);
    expect((await atRap).map((m) => m.payload)).toEqual(["r", "n"]);
    expect(flags).toEqual([true, false]);
  });

  it("an expired retained message is no longer sent (Message Expiry Interval)", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const pub = await connectAs(app, "u1", { protocolVersion: 5, clientId: "pub" });
    await pub.publishAsync(`${u}/short`, "gone", {
      qos: 1,
      retain: true,
      properties: { messageExpiryInterval: 1 },
    });
    await pub.publishAsync(`${u}/long`, "kept", {
      qos: 1,
      retain: true,
      properties: { messageExpiryInterval: 60 },
    });
    await new Promise((r) => setTimeout(r, 1300));
    const sub = await connectAs(app, "u1", { protocolVersion: 5, clientId: "sub" });
    const got = await subscribeAndCollect(sub, `${u}/#`, { qos: 1 });
    expect(got.map((m) => m.payload)).toEqual(["kept"]);
    const left = got[0]?.packet.properties?.messageExpiryInterval ?? 0;
    expect(left).toBeGreaterThan(55);
    expect(left).toBeLessThanOrEqual(60);
  });
});
