import { afterAll, describe, expect, it } from "vitest";
import {
  closeAll,
  collect,
  collectN,
  connectAs,
  createApp,
  kill,
  makeGroup,
  nextMessage,
  psp,
  subscribeCodes,
} from "./helpers";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

const members = (app: Parameters<typeof psp>[0], g: string, body: { add?: string[]; remove?: string[] }) =>
  psp(app, "POST", `/psp/groups/${g}/members`, body);

describe.concurrent("group messages", () => {
  it("reach every subscribed member, the publisher included, and no one else", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1", "u2", "u3"]);
    await makeGroup(app, "other", ["u4"]);
    const g = `${app.name}/group/fam`;
    const subs = await Promise.all(["u1", "u2", "u3", "u4"].map((u) => connectAs(app, u, { clientId: u })));
    const [u1, u2, u3, u4] = subs as [(typeof subs)[0], (typeof subs)[0], (typeof subs)[0], (typeof subs)[0]];
    await subscribeCodes(u1, `${g}/#`);
    await subscribeCodes(u2, `${g}/#`);
    await subscribeCodes(u3, `${app.name}/group/+/#`);
    await subscribeCodes(u4, `${app.name}/group/+/#`);
    const got = subs.map((c, i) => (i < 3 ? collectN(c, 1) : collect(c, 900)));
    const payload = JSON.stringify({ push_type: "talk", group_id: 7, type: 3, content: "dinner" });
    await u1.publishAsync(`${g}/talk`, payload, { qos: 1 });
    const [a, b, c, d] = await Promise.all(got);
    for (const x of [a, b, c]) expect(x?.map((m) => [m.topic, m.payload])).toEqual([[`${g}/talk`, payload]]);
    expect(d).toEqual([]);
  });

  it("a burst from one publisher reaches every member once each, in publish order", async () => {
    const app = await createApp();
    const users = ["b0", "b1", "b2", "b3"];
    await makeGroup(app, "burst", users);
    const g = `${app.name}/group/burst`;
    const subs = await Promise.all(users.slice(1).map((u) => connectAs(app, u, { clientId: u })));
    for (const s of subs) await subscribeCodes(s, `${g}/#`, { qos: 1 });
    const pub = await connectAs(app, "b0", { clientId: "b0" });
    const sent = Array.from({ length: 60 }, (_, i) => `m${i}`);
    const got = subs.map((c) => collectN(c, sent.length));
    // Flat out, QoS 0 and 1 mixed: batches to each member must keep the order.
    for (const [i, m] of sent.entries()) pub.publish(`${g}/talk`, m, { qos: i % 2 ? 1 : 0 });
    for (const list of await Promise.all(got)) expect(list?.map((m) => m.payload)).toEqual(sent);
  });

  it("a member with several connections gets the message on each subscribed one", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1", "u2"]);
    const g = `${app.name}/group/fam`;
    const phone = await connectAs(app, "u2", { clientId: "phone" });
    const watch = await connectAs(app, "u2", { clientId: "watch", protocolVersion: 5 });
    await subscribeCodes(phone, `${g}/#`);
    await subscribeCodes(watch, `${g}/#`);
    const a = nextMessage(phone);
    const b = nextMessage(watch);
    const u1 = await connectAs(app, "u1", { clientId: "u1" });
    await u1.publishAsync(`${g}/talk`, "both", { qos: 1 });
    expect([(await a).payload, (await b).payload]).toEqual(["both", "both"]);
  });
});

describe.concurrent("membership changes (POST /psp/groups/:id/members)", () => {
  it("a removed member stops receiving at once on its live connection; others keep receiving", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1", "u2", "u3"]);
    const g = `${app.name}/group/fam`;
    const u2 = await connectAs(app, "u2", { clientId: "u2" });
    const u2plus = await connectAs(app, "u2", { clientId: "u2plus" });
    const u3 = await connectAs(app, "u3", { clientId: "u3" });
    await subscribeCodes(u2, `${g}/#`);
    await subscribeCodes(u2plus, `${app.name}/group/+/#`);
    await subscribeCodes(u3, `${g}/#`);
    const u1 = await connectAs(app, "u1", { clientId: "u1" });
    const first = nextMessage(u2);
    await u1.publishAsync(`${g}/talk`, "before", { qos: 1 });
    expect((await first).payload).toBe("before");

    const res = await members(app, "fam", { remove: ["u2"] });
    expect(res.body).toMatchObject({ ret: "SUCCESS", data: { removed: ["u2"], members: 2 } });
    const at2 = collect(u2, 800);
    const at2plus = collect(u2plus, 800);
    const at3 = nextMessage(u3);
    await u1.publishAsync(`${g}/talk`, "after", { qos: 1 });
    expect((await at3).payload).toBe("after");
    expect(await at2).toEqual([]);
    expect(await at2plus).toEqual([]);
  });

  it("a removed member can no longer subscribe to or publish on the group", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1", "u2"]);
    const g = `${app.name}/group/fam`;
    const u2 = await connectAs(app, "u2", { clientId: "u2", protocolVersion: 5 });
    expect(await subscribeCodes(u2, `${g}/a`)).toEqual([1]);
    await members(app, "fam", { remove: ["u2"] });
    expect(await subscribeCodes(u2, `${g}/b`)).toEqual([0x87]);
    const err = await u2.publishAsync(`${g}/talk`, "x", { qos: 1 }).catch((e) => e);
    expect((err as { code?: number }).code).toBe(0x87);
  });

  it.each([4, 5] as const)(
    "MQTT %i: a removed member's will neither reaches the group nor stays retained there",
    async (protocolVersion) => {
      const app = await createApp();
      await makeGroup(app, "fam", ["u1", "u2"]);
      const g = `${app.name}/group/fam`;
      const u2 = await connectAs(app, "u2", { clientId: "u2" });
      await subscribeCodes(u2, `${g}/#`);
      const will = { topic: `${g}/left`, payload: Buffer.from("u1"), qos: 1 as const, retain: true };
      const u1 = await connectAs(app, "u1", { protocolVersion, clientId: "u1", will });
      await members(app, "fam", { remove: ["u1"] });
      const at2 = collect(u2, 1000);
      kill(u1);
      expect(await at2).toEqual([]);
      const later = await connectAs(app, "u2", { clientId: "later" });
      const retained = collect(later, 800);
      await subscribeCodes(later, `${g}/#`);
      expect(await retained).toEqual([]);
    },
  );

  it("5.0: a delayed will of a member removed while it waits is discarded", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1", "u2"]);
    const g = `${app.name}/group/fam`;
    const u2 = await connectAs(app, "u2", { clientId: "u2" });
    await subscribeCodes(u2, `${g}/#`);
    const u1 = await connectAs(app, "u1", {
      protocolVersion: 5,
      clientId: "u1",
      properties: { sessionExpiryInterval: 60 },
      will: {
        topic: `${g}/left`,
        payload: Buffer.from("u1"),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 1 },
      },
    });
    const at2 = collect(u2, 2500);
    kill(u1);
    await members(app, "fam", { remove: ["u1"] });
    expect(await at2).toEqual([]);
  });

  it("3.1.1: a removed member's publish on the group is dropped", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1", "u2"]);
    const g = `${app.name}/group/fam`;
    const u1 = await connectAs(app, "u1", { clientId: "u1" });
    await subscribeCodes(u1, `${g}/#`);
    const u2 = await connectAs(app, "u2", { clientId: "u2" });
    await members(app, "fam", { remove: ["u2"] });
    const at1 = collect(u1, 800);
    await u2.publishAsync(`${g}/talk`, "x", { qos: 1 });
    expect(await at1).toEqual([]);
  });

  it("an added member can subscribe at once on a connection opened before it joined", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1"]);
    const g = `${app.name}/group/fam`;
    const u5 = await connectAs(app, "u5", { clientId: "u5" });
    expect(await subscribeCodes(u5, `${g}/#`)).toEqual([0x80]);
    const res = await members(app, "fam", { add: ["u5"] });
    expect(res.body).toMatchObject({ ret: "SUCCESS", data: { added: ["u5"], members: 2 } });
    expect(await subscribeCodes(u5, `${g}/#`)).toEqual([1]);
    const got = nextMessage(u5);
    const u1 = await connectAs(app, "u1", { clientId: "u1" });
    await u1.publishAsync(`${g}/talk`, "welcome", { qos: 1 });
    expect((await got).payload).toBe("welcome");
  });

  it("an existing `<app>/group/+/#` subscription covers a group joined later", async () => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1"]);
    const u5 = await connectAs(app, "u5", { clientId: "u5" });
    expect(await subscribeCodes(u5, `${app.name}/group/+/#`)).toEqual([1]);
    await members(app, "fam", { add: ["u5"] });
    const got = nextMessage(u5);
    const u1 = await connectAs(app, "u1", { clientId: "u1" });
    await u1.publishAsync(`${app.name}/group/fam/talk`, "joined", { qos: 1 });
    expect((await got).payload).toBe("joined");
  });

  it("answers 404 for members of an unknown group", async () => {
    const app = await createApp();
    const res = await members(app, "ghost", { add: ["u1"] });
    expect(res.status).toBe(404);
    expect(res.body.ret).toBe("FAIL");
  });
});

describe.concurrent("PUT /psp/groups/:id", () => {
  it("creates and updates a group, keeping fields not sent", async () => {
    const app = await createApp();
    expect((await psp(app, "PUT", "/psp/groups/org", { name: "Org" })).body).toEqual({
      ret: "SUCCESS",
      data: { group_id: "org", name: "Org", parent_id: null },
    });
    expect((await psp(app, "PUT", "/psp/groups/team", { name: "Team", parent_id: "org" })).body.data).toEqual(
      {
        group_id: "team",
        name: "Team",
        parent_id: "org",
      },
    );
    expect((await psp(app, "PUT", "/psp/groups/team", { name: "Team 2" })).body.data).toMatchObject({
      name: "Team 2",
      parent_id: "org",
    });
  });

  it("an unknown parent_id is 404", async () => {
    const app = await createApp();
    const res = await psp(app, "PUT", "/psp/groups/child", { parent_id: "missing" });
    expect(res.status).toBe(404);
    expect(res.body.ret).toBe("FAIL");
  });

  it("a parent_id that makes a cycle is 400, itself included", async () => {
    const app = await createApp();
    await psp(app, "PUT", "/psp/groups/a", {});
    await psp(app, "PUT", "/psp/groups/b", { parent_id: "a" });
    await psp(app, "PUT", "/psp/groups/c", { parent_id: "b" });
    for (const [g, parent] of [
      ["a", "c"],
      ["a", "a"],
    ]) {
      const res = await psp(app, "PUT", `/psp/groups/${g}`, { parent_id: parent });
      expect(res.status, `${g} → ${parent}`).toBe(400);
      expect(res.body).toMatchObject({ ret: "FAIL", data: { error_code: 1001 } });
    }
  });

  it("a group id that is not an identifier is 400", async () => {
    const app = await createApp();
    expect((await psp(app, "PUT", "/psp/groups/a+b", {})).status).toBe(400);
  });
});
