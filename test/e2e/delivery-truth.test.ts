import { afterEach, describe, expect, inject, it } from "vitest";
import { msgIdFor } from "../../src/push/msg-id";
import { BASE, closeAll, connectAs, createApp, nextMessage, psp } from "./helpers";

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
