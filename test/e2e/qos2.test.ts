import type { IPublishPacket, Packet } from "mqtt-packet";
import { afterAll, describe, expect, it } from "vitest";
import { closeAll, collectN, connectAs, createApp, mqttToken, open, sleep, subscribeCodes } from "./helpers";
import { RawClient } from "./raw";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

const cmds = (ps: Packet[]) => ps.map((p) => `${p.cmd}:${p.messageId ?? ""}`);

describe.concurrent("QoS 2 with mqtt.js clients", () => {
  it.each([4, 5] as const)(
    "level %i: client → broker → client exactly once, full handshake both ways",
    async (v) => {
      const app = await createApp();
      const pub = await connectAs(app, "u1", { protocolVersion: v, clientId: "pub" });
      const sub = await connectAs(app, "u1", { protocolVersion: v, clientId: "sub" });
      expect(await subscribeCodes(sub, `${app.name}/user/u1/#`, { qos: 2 })).toEqual([2]);
      const pubIn: Packet[] = [];
      const subIn: Packet[] = [];
      const subOut: Packet[] = [];
      pub.on("packetreceive", (p) => pubIn.push(p));
      sub.on("packetreceive", (p) => subIn.push(p));
      sub.on("packetsend", (p) => subOut.push(p));
      const got = collectN(sub, 1);
      await pub.publishAsync(`${app.name}/user/u1/talk`, "exactly-once", { qos: 2 });
      const msgs = await got;
      expect(msgs.map((m) => m.payload)).toEqual(["exactly-once"]);
      const pid = pubIn.find((p) => p.cmd === "pubrec")?.messageId;
      expect(cmds(pubIn)).toEqual([`pubrec:${pid}`, `pubcomp:${pid}`]);
      const delivered = subIn.find((p) => p.cmd === "publish") as IPublishPacket;
      expect(delivered.qos).toBe(2);
      const id = delivered.messageId;
      expect(cmds(subIn)).toEqual([`publish:${id}`, `pubrel:${id}`]);
      expect(cmds(subOut)).toEqual([`pubrec:${id}`, `pubcomp:${id}`]);
    },
  );
});

describe.concurrent("QoS 2 on the wire", () => {
  it("a re-sent PUBLISH (DUP) before PUBREL is acknowledged again but routed once [MQTT-4.3.3-9]", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const sub = await connectAs(app, "u1", { clientId: "sub" });
    await subscribeCodes(sub, `${app.name}/user/u1/#`, { qos: 2 });
    const got = collectN(sub, 2);
    const raw = await RawClient.open(token);
    await raw.connect({ clientId: "pub" });
    const publish = {
      cmd: "publish",
      topic: `${app.name}/user/u1/talk`,
      payload: "one",
      qos: 2,
      retain: false,
    } as const;
    raw.send({ ...publish, messageId: 7, dup: false });
    expect(await raw.next()).toMatchObject({ cmd: "pubrec", messageId: 7 });
    raw.send({ ...publish, messageId: 7, dup: true });
    expect(await raw.next()).toMatchObject({ cmd: "pubrec", messageId: 7 });
    raw.send({ cmd: "pubrel", messageId: 7 });
    expect(await raw.next()).toMatchObject({ cmd: "pubcomp", messageId: 7 });
    // After PUBCOMP the id is free again: the same id now carries a new message.
    raw.send({ ...publish, payload: "two", messageId: 7, dup: false });
    expect(await raw.next()).toMatchObject({ cmd: "pubrec", messageId: 7 });
    raw.send({ cmd: "pubrel", messageId: 7 });
    expect(await raw.next()).toMatchObject({ cmd: "pubcomp", messageId: 7 });
    expect((await got).map((m) => m.payload)).toEqual(["one", "two"]);
  });

  it("the inbound QoS 2 state survives a reconnect of a persistent session", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const sub = await connectAs(app, "u1", { clientId: "sub" });
    await subscribeCodes(sub, `${app.name}/user/u1/#`, { qos: 2 });
    const got = collectN(sub, 1);
    const raw = await RawClient.open(token);
    await raw.connect({ clientId: "pub", clean: false });
    const publish = {
      cmd: "publish",
      topic: `${app.name}/user/u1/x`,
      payload: "p",
      qos: 2,
      retain: false,
    } as const;
    raw.send({ ...publish, messageId: 9, dup: false });
    await raw.next("pubrec");
    raw.kill();
    await raw.closed;
    const again = await RawClient.open(token);
    await again.connect({ clientId: "pub", clean: false });
    again.send({ ...publish, messageId: 9, dup: true });
    expect(await again.next()).toMatchObject({ cmd: "pubrec", messageId: 9 });
    again.send({ cmd: "pubrel", messageId: 9 });
    expect(await again.next()).toMatchObject({ cmd: "pubcomp", messageId: 9 });
    expect((await got).map((m) => m.payload)).toEqual(["p"]);
  });

  it("outbound: PUBLISH resent with DUP until PUBREC, then PUBREL resent until PUBCOMP [MQTT-4.4.0-1]", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const reopen = async () => {
      const r = await RawClient.open(token);
      const ack = await r.connect({ clientId: "watch", clean: false });
      return { r, ack };
    };
    const { r: a } = await reopen();
    a.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${app.name}/user/u1/#`, qos: 2 }] });
    expect(await a.next("suback")).toMatchObject({ granted: [2] });
    const pub = await connectAs(app, "u1", { clientId: "pub" });
    await pub.publishAsync(`${app.name}/user/u1/talk`, "q2", { qos: 2 });
    const p1 = (await a.next("publish")) as IPublishPacket;
    expect(p1).toMatchObject({ qos: 2, dup: false });
    a.kill(); // neither PUBREC nor anything else
    await a.closed;

    const { r: b, ack } = await reopen();
    expect(ack.sessionPresent).toBe(true);
    const p2 = (await b.next("publish")) as IPublishPacket;
    expect(p2).toMatchObject({ qos: 2, dup: true, messageId: p1.messageId });
    expect(p2.payload.toString()).toBe("q2");
    b.send({ cmd: "pubrec", messageId: p1.messageId });
    expect(await b.next()).toMatchObject({ cmd: "pubrel", messageId: p1.messageId });
    b.kill(); // no PUBCOMP
    await b.closed;

    const { r: c } = await reopen();
    expect(await c.next()).toMatchObject({ cmd: "pubrel", messageId: p1.messageId }); // not the PUBLISH again
    c.send({ cmd: "pubcomp", messageId: p1.messageId });
    expect(await c.quiet(300)).toEqual([]);
    c.kill();
    await c.closed;

    const { r: d } = await reopen();
    expect(await d.quiet(400)).toEqual([]); // done: nothing is resent
  });

  it("5.0: PUBREL for an unknown packet id gets PUBCOMP 0x92", async () => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "c" });
    raw.send({ cmd: "pubrel", messageId: 42 });
    expect(await raw.next()).toMatchObject({ cmd: "pubcomp", messageId: 42, reasonCode: 0x92 });
  });

  it("a QoS 2 message to a persistent offline session is delivered once after it returns", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const sub = await open(token, { clientId: "phone", clean: false });
    await subscribeCodes(sub.client, `${app.name}/user/u1/#`, { qos: 2 });
    await sub.client.endAsync();
    const pub = await connectAs(app, "u1", { clientId: "pub" });
    await pub.publishAsync(`${app.name}/user/u1/talk`, "offline-q2", { qos: 2 });
    const back = await open(token, { clientId: "phone", clean: false });
    await sleep(600);
    expect(back.messages.map((m) => [m.payload, m.packet.qos])).toEqual([["offline-q2", 2]]);
  });
});
