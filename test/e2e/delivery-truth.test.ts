import { afterEach, describe, expect, inject, it } from "vitest";
import { msgIdFor } from "../../src/push/msg-id";
import { type App, BASE, closeAll, connectAs, createApp, eventually, nextMessage, psp } from "./helpers";

// CONTRACT §2 "Delivery truth" over real MQTT clients (mqtt.js, 3.1.1 and 5.0).

const ADMIN_HEADERS = {
  authorization: `Bearer ${inject("e2eAdminToken")}`,
  "content-type": "application/json",
};
const setApp = async (appkey: string, settings: Record<string, unknown>) => {
  const res = await fetch(`${BASE}/api/admin/apps/${appkey}`, {
    method: "PUT",
    headers: ADMIN_HEADERS,
    body: JSON.stringify(settings),
  });
  expect(res.status).toBe(200);
};

const custom = { push_type: "talk", content: "hi" };
const silent = { display_type: "message", body: { custom } };

afterEach(closeAll);

describe("msg_id on MQTT", () => {
  it("MQTT 5 gets user property msg_id; a 3.1.1 body stays as sent", async () => {
    const app = await createApp();
    const v5 = await connectAs(app, "u1", { protocolVersion: 5 });
    const v4 = await connectAs(app, "u2");
    await v5.subscribeAsync(`${app.name}/user/u1/#`, { qos: 1 });
    await v4.subscribeAsync(`${app.name}/user/u2/#`, { qos: 1 });
    const got5 = nextMessage(v5);
    const got4 = nextMessage(v4);
    const { body } = await psp(app, "POST", "/psp/push/msg", {
      type: "customizedcast",
      alias: "u1,u2",
      payload: silent,
    });
    const taskId = String(body.data.task_id);
    const m5 = await got5;
    expect(m5.topic).toBe(`${app.name}/user/u1/talk`);
    expect(m5.packet.properties?.userProperties).toEqual({ msg_id: msgIdFor(taskId, { userId: "u1" }) });
    expect(JSON.parse(m5.payload)).toEqual(custom);
    expect((await got4).payload).toBe(JSON.stringify(custom));
  });

  it("embed_msg_id adds msg_id to a 3.1.1 JSON body", async () => {
    const app = await createApp();
    await setApp(app.appkey, { embed_msg_id: true });
    const v4 = await connectAs(app, "u2");
    await v4.subscribeAsync(`${app.name}/user/u2/#`, { qos: 1 });
    const got = nextMessage(v4);
    const { body } = await psp(app, "POST", "/psp/push/msg", {
      type: "customizedcast",
      alias: "u2",
      payload: silent,
    });
    expect(JSON.parse((await got).payload)).toEqual({
      ...custom,
      msg_id: msgIdFor(String(body.data.task_id), { userId: "u2" }),
    });
  });

  it("a group push carries each member's own msg_id", async () => {
    const app = await createApp();
    await psp(app, "PUT", "/psp/groups/fam", { name: "fam" });
    await psp(app, "POST", "/psp/groups/fam/members", { add: ["u1"] });
    const v5 = await connectAs(app, "u1", { protocolVersion: 5 });
    await v5.subscribeAsync(`${app.name}/group/fam/#`, { qos: 1 });
    const got = nextMessage(v5);
    const { body } = await psp(app, "POST", "/psp/push/msg", {
      type: "groupcast",
      group_id: "fam",
      payload: silent,
    });
    expect((await got).packet.properties?.userProperties).toEqual({
      msg_id: msgIdFor(String(body.data.task_id), { userId: "u1" }),
    });
  });
});

type Trace = { state: string; events: { state: string; detail: string }[] };
const trace = async (app: App, taskId: string, userId: string) =>
  (await psp(app, "GET", `/psp/push/trace?task_id=${taskId}&user_id=${userId}`)).body
    .data as unknown as Trace;
const pushTo = async (app: App, alias: string) =>
  String(
    (await psp(app, "POST", "/psp/push/msg", { type: "customizedcast", alias, payload: silent })).body.data
      .task_id,
  );

describe("msg_id is the platform's", () => {
  it("a client's own user property msg_id is dropped; its other properties are kept", async () => {
    const app = await createApp();
    const c = await connectAs(app, "u1", { protocolVersion: 5 });
    await c.subscribeAsync(`${app.name}/user/u1/#`, { qos: 1 });
    const got = nextMessage(c);
    await c.publishAsync(`${app.name}/user/u1/chat`, "hi", {
      qos: 1,
      properties: { userProperties: { msg_id: "u0.0000000000000000", kept: "yes" } },
    });
    expect((await got).packet.properties?.userProperties).toEqual({ kept: "yes" });
  });
});

describe("receipts from devices", () => {
  it("a QoS 1 PUBACK marks the user's MQTT target received", async () => {
    const app = await createApp();
    const c = await connectAs(app, "u1");
    await c.subscribeAsync(`${app.name}/user/u1/#`, { qos: 1 });
    const got = nextMessage(c);
    const taskId = await pushTo(app, "u1");
    await got; // mqtt.js acknowledges it
    const t = await eventually(
      () => trace(app, taskId, "u1"),
      (v) => v.state === "received",
    );
    expect(t.state).toBe("received");
    expect(t.events.map((e) => e.state)).toEqual(["accepted", "routed", "sent", "received"]);
    expect(t.events[3]?.detail).toBe("PUBACK from the device");
    expect((await psp(app, "GET", `/psp/push/status?task_id=${taskId}`)).body.data).toMatchObject({
      received: 1,
      received_by_channel: { mqtt: 1 },
    });
  });

  it("a persistent session that was offline: queued, then received once it comes back and acknowledges", async () => {
    const app = await createApp();
    const opts = { clientId: "phone-1", clean: false };
    const first = await connectAs(app, "u1", opts);
    await first.subscribeAsync(`${app.name}/user/u1/#`, { qos: 1 });
    await first.endAsync();
    const taskId = await pushTo(app, "u1");
    const queued = await eventually(
      () => trace(app, taskId, "u1"),
      (v) => v.state === "sent",
    );
    expect(queued.events[2]?.detail).toContain("the user is offline");
    const again = await connectAs(app, "u1", opts);
    const t = await eventually(
      () => trace(app, taskId, "u1"),
      (v) => v.state === "received",
    );
    expect(t.state).toBe("received");
    await again.endAsync();
  });

  it("receipts published on <app>/user/<own id>/receipt count for the user's own msg_ids only, and go to no subscriber", async () => {
    const app = await createApp();
    const c = await connectAs(app, "u1");
    await c.subscribeAsync(`${app.name}/user/u1/#`, { qos: 0 });
    const taskId = await pushTo(app, "u1,u2");
    await eventually(
      () => trace(app, taskId, "u2"),
      (v) => v.state === "sent",
    );
    const seen: string[] = [];
    c.on("message", (topic) => seen.push(topic));
    await c.publishAsync(
      `${app.name}/user/u1/receipt`,
      JSON.stringify({
        receipts: [
          { msg_id: msgIdFor(taskId, { userId: "u2" }), state: "opened" },
          { msg_id: msgIdFor(taskId, { userId: "u1" }), state: "opened" },
        ],
      }),
      { qos: 1 },
    );
    const t = await eventually(
      () => trace(app, taskId, "u1"),
      (v) => v.state === "opened",
    );
    expect(t.events.at(-1)).toMatchObject({ state: "opened", detail: "receipt from the app over MQTT" });
    // u1's receipt for u2's message was dropped in the same call that applied its own.
    expect((await trace(app, taskId, "u2")).state).toBe("sent");
    // Sentinel: a message published after the receipt arrives; the receipt never did.
    const sentinel = nextMessage(c, 5000, (topic) => topic.endsWith("/sentinel"));
    await c.publishAsync(`${app.name}/user/u1/sentinel`, "s", { qos: 1 });
    await sentinel;
    expect(seen.filter((topic) => topic.endsWith("/receipt"))).toEqual([]);
  });
});
