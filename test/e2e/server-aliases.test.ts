import type { IPublishPacket } from "mqtt-packet";
import { afterAll, describe, it } from "vitest";
import { closeAll, collectN, connectAs, createApp, mqttToken, subscribeCodes } from "./helpers";
import { RawClient } from "./raw";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

const v5 = { protocolVersion: 5 as const };

/** The topic and Topic Alias of each PUBLISH a raw client received, in order. */
const wire = (packets: IPublishPacket[]) =>
  packets.map((p) => [p.topic, p.properties?.topicAlias, p.payload.toString()]);

async function publishes(raw: RawClient, n: number): Promise<IPublishPacket[]> {
  const got: IPublishPacket[] = [];
  while (got.length < n) {
    const p = (await raw.next("publish")) as IPublishPacket;
    if (p.qos > 0) raw.send({ cmd: "puback", messageId: p.messageId, reasonCode: 0 });
    got.push(p);
  }
  return got;
}

describe.concurrent("topic aliases towards the client (MQTT 5)", () => {
  it("the first PUBLISH on a topic carries alias and topic, later ones the alias alone; past the client's maximum, full topics", async ({
    expect,
  }) => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "sub", properties: { topicAliasMaximum: 2 } });
    raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${u}/#`, qos: 1 }] });
    await raw.next("suback");
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    for (const [t, payload, qos] of [
      ["a", "1", 0],
      ["a", "2", 1],
      ["b", "3", 1],
      ["c", "4", 0],
      ["a", "5", 1],
      ["b", "6", 0],
      ["c", "7", 1],
    ] as const) {
      await pub.publishAsync(`${u}/${t}`, payload, { qos });
    }
    expect(wire(await publishes(raw, 7))).toEqual([
      [`${u}/a`, 1, "1"],
      ["", 1, "2"],
      [`${u}/b`, 2, "3"],
      [`${u}/c`, undefined, "4"], // the client allows 2 aliases: c goes in full, every time
      ["", 1, "5"],
      ["", 2, "6"],
      [`${u}/c`, undefined, "7"],
    ]);
  });

  it("a client without Topic Alias Maximum gets full topics only", async ({ expect }) => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "sub" });
    raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${u}/#`, qos: 0 }] });
    await raw.next("suback");
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    for (const payload of ["1", "2"]) await pub.publishAsync(`${u}/a`, payload, { qos: 0 });
    expect(wire(await publishes(raw, 2))).toEqual([
      [`${u}/a`, undefined, "1"],
      [`${u}/a`, undefined, "2"],
    ]);
  });

  it("mqtt.js with topicAliasMaximum resolves the aliases it is sent: the right topics, aliases on the wire", async ({
    expect,
  }) => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const sub = await connectAs(app, "u1", { ...v5, clientId: "sub", properties: { topicAliasMaximum: 4 } });
    const aliases: (number | undefined)[] = [];
    const topicsOnWire: string[] = [];
    sub.on("packetreceive", (p) => {
      if (p.cmd !== "publish") return;
      aliases.push(p.properties?.topicAlias);
      topicsOnWire.push(p.topic);
    });
    await subscribeCodes(sub, `${u}/#`, { qos: 1 });
    const got = collectN(sub, 4);
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    for (const t of ["x", "y", "x", "y"]) await pub.publishAsync(`${u}/${t}`, t, { qos: 1 });
    expect((await got).map((m) => m.topic)).toEqual([`${u}/x`, `${u}/y`, `${u}/x`, `${u}/y`]);
    expect(aliases).toEqual([1, 2, 1, 2]);
    expect(topicsOnWire).toEqual([`${u}/x`, `${u}/y`, "", ""]);
  });

  it("3.1.1 clients never get aliases (and a new connection starts a new alias map)", async ({ expect }) => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const first = await RawClient.open(await mqttToken(app, "u1"), 5);
    await first.connect({ clientId: "sub", properties: { topicAliasMaximum: 5 } });
    first.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${u}/#`, qos: 0 }] });
    await first.next("suback");
    const v4 = await RawClient.open(await mqttToken(app, "u1"), 4);
    await v4.connect({ clientId: "old" });
    v4.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${u}/#`, qos: 0 }] });
    await v4.next("suback");
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    await pub.publishAsync(`${u}/a`, "1", { qos: 0 });
    expect(wire(await publishes(first, 1))).toEqual([[`${u}/a`, 1, "1"]]);
    expect(wire(await publishes(v4, 1))).toEqual([[`${u}/a`, undefined, "1"]]);
    first.send({ cmd: "disconnect" });
    await first.closed;
    const second = await RawClient.open(await mqttToken(app, "u1"), 5);
    await second.connect({ clientId: "sub", clean: false, properties: { topicAliasMaximum: 5 } });
    second.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${u}/#`, qos: 0 }] });
    await second.next("suback");
    await pub.publishAsync(`${u}/a`, "2", { qos: 0 });
    expect(wire(await publishes(second, 1))).toEqual([[`${u}/a`, 1, "2"]]);
  });
});
