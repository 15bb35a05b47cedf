import { afterAll, describe, expect, it } from "vitest";
import {
  closeAll,
  collect,
  connectAs,
  createApp,
  eventually,
  kill,
  makeGroup,
  mqttToken,
  nextMessage,
  open,
  presence,
  sleep,
  subscribeCodes,
} from "./helpers";
import { RawClient } from "./raw";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

const willOn = (topic: string, payload: string, extra: object = {}) => ({
  will: { topic, payload: Buffer.from(payload), qos: 1 as const, retain: false, ...extra },
});

describe.concurrent.each([4, 5] as const)("Last Will, MQTT level %i", (protocolVersion) => {
  it("is published when the connection drops without DISCONNECT", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const watcher = await connectAs(app, "u1", { protocolVersion, clientId: "watcher" });
    await subscribeCodes(watcher, `${u}/#`, { qos: 1 });
    const phone = await connectAs(app, "u1", {
      protocolVersion,
      clientId: "phone",
      ...willOn(`${u}/gone`, "bye"),
    });
    const got = nextMessage(watcher, 4000);
    kill(phone);
    const m = await got;
    expect([m.topic, m.payload, m.packet.qos, m.packet.retain]).toEqual([`${u}/gone`, "bye", 1, false]);
  });

  it("is not published after a normal DISCONNECT [MQTT-3.14.4-3]", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const watcher = await connectAs(app, "u1", { protocolVersion, clientId: "watcher" });
    await subscribeCodes(watcher, `${u}/#`, { qos: 1 });
    const phone = await connectAs(app, "u1", {
      protocolVersion,
      clientId: "phone",
      ...willOn(`${u}/gone`, "bye"),
    });
    const got = collect(watcher, 800);
    await phone.endAsync();
    expect(await got).toEqual([]);
  });

  it("a retained will is kept as the topic's retained message", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const phone = await connectAs(app, "u1", {
      protocolVersion,
      clientId: "phone",
      ...willOn(`${u}/state`, "offline", { retain: true }),
    });
    kill(phone);
    await sleep(300);
    const later = await connectAs(app, "u1", { protocolVersion, clientId: "later" });
    const got = nextMessage(later, 3000);
    await subscribeCodes(later, `${u}/state`, { qos: 1 });
    const m = await got;
    expect([m.payload, m.packet.retain]).toEqual(["offline", true]);
  });

  it("a will on a group topic reaches the other members", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1", "u2"]);
    const g = `${app.name}/group/fam`;
    const u2 = await connectAs(app, "u2", { protocolVersion, clientId: "u2" });
    await subscribeCodes(u2, `${g}/#`, { qos: 1 });
    const phone = await connectAs(app, "u1", {
      protocolVersion,
      clientId: "phone",
      ...willOn(`${g}/left`, "u1"),
    });
    const got = nextMessage(u2, 4000);
    kill(phone);
    expect((await got).topic).toBe(`${g}/left`);
  });
});

describe.concurrent("MQTT 5 will options", () => {
  it("DISCONNECT with reason 0x04 publishes the will [MQTT-3.14.4-3]", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const watcher = await connectAs(app, "u1", { protocolVersion: 5, clientId: "watcher" });
    await subscribeCodes(watcher, `${u}/#`, { qos: 1 });
    const phone = await connectAs(app, "u1", {
      protocolVersion: 5,
      clientId: "phone",
      ...willOn(`${u}/gone`, "w"),
    });
    const got = nextMessage(watcher, 4000);
    phone.end(false, { reasonCode: 0x04 });
    expect((await got).payload).toBe("w");
  });

  it("the Will Delay Interval holds the will back [MQTT-3.1.3-9]", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const watcher = await connectAs(app, "u1", { protocolVersion: 5, clientId: "watcher" });
    await subscribeCodes(watcher, `${u}/#`, { qos: 1 });
    const phone = await connectAs(app, "u1", {
      protocolVersion: 5,
      clientId: "phone",
      properties: { sessionExpiryInterval: 60 },
      ...willOn(`${u}/gone`, "late", { properties: { willDelayInterval: 2 } }),
    });
    const got = nextMessage(watcher, 6000);
    const early = collect(watcher, 1200);
    const t0 = Date.now();
    kill(phone);
    expect(await early).toEqual([]);
    expect((await got).payload).toBe("late");
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(4500);
  });

  it("a reconnect within the Will Delay Interval cancels the will", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const watcher = await connectAs(app, "u1", { protocolVersion: 5, clientId: "watcher" });
    await subscribeCodes(watcher, `${u}/#`, { qos: 1 });
    const o = {
      protocolVersion: 5 as const,
      clientId: "phone",
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      ...willOn(`${u}/gone`, "never", { properties: { willDelayInterval: 2 } }),
    };
    const phone = await connectAs(app, "u1", o);
    const got = collect(watcher, 3200);
    kill(phone);
    await sleep(500);
    await connectAs(app, "u1", o);
    expect(await got).toEqual([]);
  });

  it("with Session Expiry 0 the delayed will goes out at once (the session ends first)", async () => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const watcher = await connectAs(app, "u1", { protocolVersion: 5, clientId: "watcher" });
    await subscribeCodes(watcher, `${u}/#`, { qos: 1 });
    const phone = await connectAs(app, "u1", {
      protocolVersion: 5,
      clientId: "phone",
      ...willOn(`${u}/gone`, "now", { properties: { willDelayInterval: 30 } }),
    });
    const got = nextMessage(watcher, 1500);
    kill(phone);
    expect((await got).payload).toBe("now");
  });
});

describe.concurrent("will on <app>/app/status (seed 002)", () => {
  it("sets focus 0 on abnormal close while another connection keeps the user online", async () => {
    const app = await createApp();
    const status = `${app.name}/app/status`;
    const token = await mqttToken(app, "u1");
    await open(token, { clientId: "tablet" }); // a second device keeps u1 online
    const phone = await open(token, {
      clientId: "phone",
      keepalive: 60,
      ...willOn(status, JSON.stringify({ user_id: "u1", focus: 0 })),
    });
    await phone.client.publishAsync(status, JSON.stringify({ user_id: "u1", focus: 1 }), { qos: 1 });
    expect(await presence(app, "u1")).toMatchObject({ online: true, focus: 1 });
    kill(phone.client);
    const after = await eventually(
      () => presence(app, "u1"),
      (p) => p.focus === 0,
    );
    expect(after).toMatchObject({ user_id: "u1", online: true, focus: 0 });
  });

  it("a will naming another user is refused at CONNECT (3.1.1 code 5, 5.0 0x87)", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const will = {
      topic: `${app.name}/app/status`,
      payload: '{"user_id":"u2","focus":0}',
      qos: 0 as const,
      retain: false,
    };
    for (const [v, code] of [
      [4, 5],
      [5, 0x87],
    ] as const) {
      const raw = await RawClient.open(token, v);
      expect(await raw.connect({ clientId: "c", will })).toMatchObject(
        v === 4 ? { returnCode: code } : { reasonCode: code },
      );
      await raw.closed;
    }
  });
});
