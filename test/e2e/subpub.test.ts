import { afterAll, describe, expect, it } from "vitest";
import {
  closeAll,
  collect,
  collectN,
  connectAs,
  createApp,
  makeGroup,
  nextMessage,
  subscribeCodes,
} from "./helpers";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

describe.concurrent.each([4, 5] as const)(
  "subscribe / publish on user topics, MQTT level %i",
  (protocolVersion) => {
    const opts = { protocolVersion };

    it("delivers a QoS 0 message on the identity's own topic with its topic, payload and flags", async () => {
      const app = await createApp();
      const pub = await connectAs(app, "u1", { ...opts, clientId: "pub" });
      const sub = await connectAs(app, "u1", { ...opts, clientId: "sub" });
      expect(await subscribeCodes(sub, `${app.name}/user/u1/#`, { qos: 0 })).toEqual([0]);
      const got = nextMessage(sub);
      await pub.publishAsync(`${app.name}/user/u1/talk`, '{"push_type":"talk","type":3}');
      const m = await got;
      expect(m.topic).toBe(`${app.name}/user/u1/talk`);
      expect(m.payload).toBe('{"push_type":"talk","type":3}');
      expect(m.packet.qos).toBe(0);
      expect(m.packet.retain).toBe(false);
      expect(m.packet.dup).toBe(false);
    });

    it("`+` matches exactly one level, `#` any number including the parent level [MQTT-4.7.1-2]", async () => {
      const app = await createApp();
      const u = `${app.name}/user/u1`;
      const pub = await connectAs(app, "u1", { ...opts, clientId: "pub" });
      const plus = await connectAs(app, "u1", { ...opts, clientId: "plus" });
      const hash = await connectAs(app, "u1", { ...opts, clientId: "hash" });
      expect(await subscribeCodes(plus, `${u}/+`, { qos: 1 })).toEqual([1]);
      expect(await subscribeCodes(hash, `${u}/#`, { qos: 1 })).toEqual([1]);
      const gotPlus = collectN(plus, 2);
      const gotHash = collectN(hash, 4);
      for (const t of [u, `${u}/talk`, `${u}/talk/deep`, `${u}/locate`])
        await pub.publishAsync(t, t, { qos: 1 });
      expect((await gotPlus).map((m) => m.topic)).toEqual([`${u}/talk`, `${u}/locate`]);
      expect((await gotHash).map((m) => m.topic)).toEqual([u, `${u}/talk`, `${u}/talk/deep`, `${u}/locate`]);
    });

    it("`+` in the middle of a filter matches one level there", async () => {
      const app = await createApp();
      const u = `${app.name}/user/u1`;
      const pub = await connectAs(app, "u1", { ...opts, clientId: "pub" });
      const sub = await connectAs(app, "u1", { ...opts, clientId: "sub" });
      await subscribeCodes(sub, `${u}/+/status`);
      const got = collectN(sub, 2);
      for (const t of [`${u}/watch/status`, `${u}/watch/locate`, `${u}/a/b/status`, `${u}/phone/status`])
        await pub.publishAsync(t, "x", { qos: 1 });
      expect((await got).map((m) => m.topic)).toEqual([`${u}/watch/status`, `${u}/phone/status`]);
    });

    it("stops delivering once the filter is unsubscribed", async () => {
      const app = await createApp();
      const t = `${app.name}/user/u1/talk`;
      const pub = await connectAs(app, "u1", { ...opts, clientId: "pub" });
      const sub = await connectAs(app, "u1", { ...opts, clientId: "sub" });
      await subscribeCodes(sub, `${app.name}/user/u1/#`);
      const first = nextMessage(sub);
      await pub.publishAsync(t, "before", { qos: 1 });
      expect((await first).payload).toBe("before");
      await sub.unsubscribeAsync(`${app.name}/user/u1/#`);
      const after = collect(sub, 600);
      await pub.publishAsync(t, "after", { qos: 1 });
      expect(await after).toEqual([]);
    });

    it("delivers a message matching overlapping subscriptions once, at the highest granted QoS [MQTT-3.3.4-2]", async () => {
      const app = await createApp();
      const u = `${app.name}/user/u1`;
      const pub = await connectAs(app, "u1", { ...opts, clientId: "pub" });
      const sub = await connectAs(app, "u1", { ...opts, clientId: "sub" });
      expect(
        await subscribeCodes(sub, {
          [`${u}/#`]: { qos: 0 },
          [`${u}/+`]: { qos: 1 },
          [`${u}/talk`]: { qos: 0 },
        }),
      ).toEqual([0, 1, 0]);
      const qos: number[] = [];
      sub.on("message", (_t, _p, packet) => qos.push(packet.qos));
      const got = collectN(sub, 1);
      await pub.publishAsync(`${u}/talk`, "once", { qos: 1 });
      expect((await got).map((m) => m.payload)).toEqual(["once"]);
      expect(qos).toEqual([1]);
    });

    it("downgrades to the subscription's QoS [MQTT-3.8.4-6]", async () => {
      const app = await createApp();
      const pub = await connectAs(app, "u1", { ...opts, clientId: "pub" });
      const sub = await connectAs(app, "u1", { ...opts, clientId: "sub" });
      await subscribeCodes(sub, `${app.name}/user/u1/#`, { qos: 0 });
      const got = nextMessage(sub);
      await pub.publishAsync(`${app.name}/user/u1/talk`, "q", { qos: 2 });
      expect((await got).packet.qos).toBe(0);
    });

    it("delivers a client's own message back to it (no No Local by default)", async () => {
      const app = await createApp();
      const c = await connectAs(app, "u1", { ...opts, clientId: "self" });
      await subscribeCodes(c, `${app.name}/user/u1/#`);
      const got = nextMessage(c);
      await c.publishAsync(`${app.name}/user/u1/echo`, "me", { qos: 1 });
      expect((await got).payload).toBe("me");
    });
  },
);

describe.concurrent("MQTT 5 subscription options", () => {
  it("No Local skips only the publishing session, not another session of the same identity", async () => {
    const app = await createApp();
    const f = `${app.name}/user/u1/#`;
    const a = await connectAs(app, "u1", { protocolVersion: 5, clientId: "a" });
    const b = await connectAs(app, "u1", { protocolVersion: 5, clientId: "b" });
    await subscribeCodes(a, f, { qos: 1, nl: true });
    await subscribeCodes(b, f, { qos: 1, nl: true });
    const atA = collect(a, 700);
    const atB = collectN(b, 1, 500);
    await a.publishAsync(`${app.name}/user/u1/x`, "from-a", { qos: 1 });
    expect(await atA).toEqual([]);
    expect((await atB).map((m) => m.payload)).toEqual(["from-a"]);
  });

  it("No Local compares sessions, not bare client ids: another user's client of the same id still receives", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1", "u2"]);
    const g = `${app.name}/group/fam`;
    const u1 = await connectAs(app, "u1", { protocolVersion: 5, clientId: "phone" });
    const u2 = await connectAs(app, "u2", { protocolVersion: 5, clientId: "phone" });
    await subscribeCodes(u1, `${g}/#`, { qos: 1, nl: true });
    await subscribeCodes(u2, `${g}/#`, { qos: 1, nl: true });
    const atU1 = collectN(u1, 1, 500);
    const atU2 = collect(u2, 800);
    await u2.publishAsync(`${g}/talk`, "from-u2", { qos: 1 });
    expect((await atU1).map((m) => m.payload)).toEqual(["from-u2"]);
    expect(await atU2).toEqual([]);
  });

  it("answers UNSUBACK 0x11 for a filter the session did not hold, 0x00 for one it did", async () => {
    const app = await createApp();
    const c = await connectAs(app, "u1", { protocolVersion: 5, clientId: "c" });
    await subscribeCodes(c, `${app.name}/user/u1/a`);
    const packet = (await c.unsubscribeAsync([`${app.name}/user/u1/a`, `${app.name}/user/u1/b`])) as {
      granted?: number[];
      reasonCode?: number;
    };
    expect(packet.granted ?? packet.reasonCode).toEqual([0x00, 0x11]);
  });
});
