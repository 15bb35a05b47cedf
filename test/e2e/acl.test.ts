import { afterAll, describe, expect, it } from "vitest";
import {
  closeAll,
  collect,
  collectN,
  connectAs,
  createApp,
  makeGroup,
  nextMessage,
  presence,
  subscribeCodes,
} from "./helpers";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

const FAIL = { 4: 0x80, 5: 0x87 } as const;

describe.concurrent.each([4, 5] as const)("SUBSCRIBE ACL (CONTRACT §3), MQTT level %i", (v) => {
  it("grants the own user topic and refuses another user's, one code per filter", async () => {
    const app = await createApp();
    const c = await connectAs(app, "u1", { protocolVersion: v, clientId: "c" });
    const n = app.name;
    expect(
      await subscribeCodes(c, {
        [`${n}/user/u1/#`]: { qos: 1 },
        [`${n}/user/u2/#`]: { qos: 1 },
        [`${n}/user/+/#`]: { qos: 1 },
        [`${n}/user/#`]: { qos: 1 },
      }),
    ).toEqual([1, FAIL[v], FAIL[v], FAIL[v]]);
  });

  it("refuses `#`, `+/#`, the status topic and topics outside the app", async () => {
    const app = await createApp();
    const other = await createApp();
    const c = await connectAs(app, "u1", { protocolVersion: v, clientId: "c" });
    const n = app.name;
    const filters = [
      "#",
      "+/#",
      `${n}/#`,
      `${n}/+/u1/#`,
      `${n}/app/status`,
      `${other.name}/user/u1/#`,
      "$SYS/#",
    ];
    expect(await subscribeCodes(c, filters, { qos: 0 })).toEqual(filters.map(() => FAIL[v]));
  });

  it("grants `<app>/group/G/#` only to members of G", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1"]);
    await makeGroup(app, "work", ["u2"]);
    const c = await connectAs(app, "u1", { protocolVersion: v, clientId: "c" });
    expect(
      await subscribeCodes(c, [
        `${app.name}/group/fam/#`,
        `${app.name}/group/work/#`,
        `${app.name}/group/nope/#`,
      ]),
    ).toEqual([1, FAIL[v], FAIL[v]]);
  });
});

describe.concurrent("group wildcard `<app>/group/+/#`", () => {
  it("is granted and reaches only the client's own groups", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1", "u2"]);
    await makeGroup(app, "work", ["u2"]);
    const u1 = await connectAs(app, "u1", { clientId: "u1" });
    expect(await subscribeCodes(u1, `${app.name}/group/+/#`)).toEqual([1]);
    const u2 = await connectAs(app, "u2", { clientId: "u2" });
    const got = collectN(u1, 1);
    await u2.publishAsync(`${app.name}/group/work/talk`, "not-for-u1", { qos: 1 });
    await u2.publishAsync(`${app.name}/group/fam/talk`, "for-u1", { qos: 1 });
    expect((await got).map((m) => [m.topic, m.payload])).toEqual([[`${app.name}/group/fam/talk`, "for-u1"]]);
  });

  it("refuses `<app>/group/#` (it would cover every group)", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1"]);
    const c = await connectAs(app, "u1", { protocolVersion: 5, clientId: "c" });
    expect(await subscribeCodes(c, `${app.name}/group/#`)).toEqual([0x87]);
  });
});

describe.concurrent("PUBLISH ACL", () => {
  it("3.1.1: a publish to another user's topic is acknowledged and dropped", async () => {
    const app = await createApp();
    const u2 = await connectAs(app, "u2", { clientId: "u2" });
    await subscribeCodes(u2, `${app.name}/user/u2/#`);
    const got = collect(u2, 700);
    const u1 = await connectAs(app, "u1", { clientId: "u1" });
    await u1.publishAsync(`${app.name}/user/u2/talk`, "spoof", { qos: 1 }); // PUBACK, no error
    await u1.publishAsync(`${app.name}/user/u2/talk`, "spoof0", { qos: 0 });
    expect(await got).toEqual([]);
  });

  it("5.0: a publish to another user's topic gets PUBACK 0x87 and is dropped", async () => {
    const app = await createApp();
    const u2 = await connectAs(app, "u2", { protocolVersion: 5, clientId: "u2" });
    await subscribeCodes(u2, `${app.name}/user/u2/#`);
    const got = collect(u2, 700);
    const u1 = await connectAs(app, "u1", { protocolVersion: 5, clientId: "u1" });
    const err = await u1.publishAsync(`${app.name}/user/u2/talk`, "spoof", { qos: 1 }).catch((e) => e);
    expect((err as { code?: number }).code).toBe(0x87);
    const err2 = await u1.publishAsync(`${app.name}/user/u2/talk`, "spoof2", { qos: 2 }).catch((e) => e);
    expect((err2 as { code?: number }).code).toBe(0x87); // PUBREC 0x87 ends the QoS 2 flow
    expect(await got).toEqual([]);
  });

  it("5.0: publishing to a group the client does not belong to, or outside the app, gets 0x87", async () => {
    const app = await createApp();
    await makeGroup(app, "work", ["u2"]);
    const u1 = await connectAs(app, "u1", { protocolVersion: 5, clientId: "u1" });
    for (const t of [
      `${app.name}/group/work/talk`,
      "other-app/user/u1/x",
      `${app.name}/app/receipt`,
      "a/b",
    ]) {
      const err = await u1.publishAsync(t, "x", { qos: 1 }).catch((e) => e);
      expect((err as { code?: number }).code, t).toBe(0x87);
    }
  });

  it("publishes to the client's own groups reach the other members", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1", "u2"]);
    const u2 = await connectAs(app, "u2", { clientId: "u2" });
    await subscribeCodes(u2, `${app.name}/group/fam/#`);
    const got = nextMessage(u2);
    const u1 = await connectAs(app, "u1", { clientId: "u1" });
    await u1.publishAsync(`${app.name}/group/fam/talk`, "hi family", { qos: 1 });
    expect((await got).payload).toBe("hi family");
  });
});

describe.concurrent("status messages on <app>/app/status", () => {
  it("5.0: a status naming another user_id is refused with 0x87 and changes nothing", async () => {
    const app = await createApp();
    const u1 = await connectAs(app, "u1", { protocolVersion: 5, clientId: "u1" });
    await connectAs(app, "u2", { protocolVersion: 5, clientId: "u2" });
    const err = await u1
      .publishAsync(`${app.name}/app/status`, JSON.stringify({ user_id: "u2", focus: 1 }), { qos: 1 })
      .catch((e) => e);
    expect((err as { code?: number }).code).toBe(0x87);
    expect(await presence(app, "u2")).toMatchObject({ online: true, focus: 0 });
    expect(await presence(app, "u1")).toMatchObject({ online: true, focus: 0 });
  });

  it("3.1.1: a status naming another user_id, or malformed, is dropped", async () => {
    const app = await createApp();
    const u1 = await connectAs(app, "u1", { clientId: "u1" });
    await connectAs(app, "u2", { clientId: "u2" });
    await u1.publishAsync(`${app.name}/app/status`, JSON.stringify({ user_id: "u2", focus: 1 }), { qos: 1 });
    await u1.publishAsync(`${app.name}/app/status`, "{not json", { qos: 1 });
    await u1.publishAsync(`${app.name}/app/status`, JSON.stringify({ user_id: "u1", focus: 7 }), { qos: 1 });
    expect((await presence(app, "u2")).focus).toBe(0);
    expect((await presence(app, "u1")).focus).toBe(0);
  });
});

describe.concurrent("tenants", () => {
  it("app A's client never sees app B's messages, even for the same user and group ids", async () => {
    const a = await createApp();
    const b = await createApp();
    await makeGroup(a, "fam", ["u1"]);
    await makeGroup(b, "fam", ["u1"]);
    const inA = await connectAs(a, "u1", { clientId: "phone" });
    expect(await subscribeCodes(inA, [`${a.name}/user/u1/#`, `${a.name}/group/+/#`])).toEqual([1, 1]);
    expect(await subscribeCodes(inA, `${b.name}/user/u1/#`)).toEqual([0x80]);
    const got = collect(inA, 900);
    const inB = await connectAs(b, "u1", { clientId: "phone" }); // same ids, other tenant: no takeover
    await subscribeCodes(inB, `${b.name}/user/u1/#`);
    await inB.publishAsync(`${b.name}/user/u1/talk`, "b-user", { qos: 1 });
    await inB.publishAsync(`${b.name}/group/fam/talk`, "b-group", { qos: 1 });
    await inB.publishAsync(`${a.name}/user/u1/talk`, "b-into-a", { qos: 1 });
    expect(await got).toEqual([]);
    expect(inA.connected).toBe(true);
  });

  it("a token of app B cannot subscribe to app A's topics for the same user id", async () => {
    const a = await createApp();
    const b = await createApp();
    const inB = await connectAs(b, "u1", { protocolVersion: 5, clientId: "c" });
    expect(await subscribeCodes(inB, `${a.name}/user/u1/#`)).toEqual([0x87]);
  });
});
