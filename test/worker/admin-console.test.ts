import { describe, expect, it } from "vitest";
import { ADMIN, admin, call } from "../helpers/api";
import { mqttConnect } from "../helpers/mqtt-ws";
import { createApp } from "../helpers/psp";
import { psp } from "../helpers/push";

// Issue 13 item 4: the admin calls the console needs (docs/admin-api.md "Console"), through the
// Worker's fetch entry point, and the console's static files.

const ENDED = ["done", "failed", "cancelled", "expired"];
const settledAdmin = async (appkey: string, taskId: string) => {
  for (let i = 0; i < 300; i++) {
    const { body } = await admin(`/apps/${appkey}/tasks/${taskId}`);
    if (ENDED.includes(String(body.status))) return body;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("task did not settle");
};

describe("console admin calls", () => {
  it("need the admin token", async () => {
    const app = await createApp();
    for (const [method, path] of [
      ["POST", `/apps/${app.appkey}/push`],
      ["POST", `/apps/${app.appkey}/mqtt-token`],
      ["GET", `/apps/${app.appkey}/credentials`],
      ["GET", `/apps/${app.appkey}/tasks/x`],
      ["GET", `/apps/${app.appkey}/tasks/x/targets`],
      ["GET", `/apps/${app.appkey}/tasks/x/trace?user_id=u`],
      ["GET", `/apps/${app.appkey}/groups/g/presence`],
    ] as const) {
      const res = await call(`/api/admin${path}`, { method, json: method === "POST" ? {} : undefined });
      expect(res.status, path).toBe(401);
      expect(await res.json()).toEqual({
        error: "unauthorized",
        message: "a valid admin bearer token is required",
      });
    }
  });

  it("issues an ordinary user MQTT token: the user's own topics, no one else's", async () => {
    const app = await createApp();
    const { status, body } = await admin(`/apps/${app.appkey}/mqtt-token`, { json: { sub: "alice" } });
    expect(status).toBe(201);
    expect(body).toMatchObject({ sub: "alice", app: app.name, token: expect.any(String) });
    const ttl = Date.parse(String(body.expires_at)) - Date.now();
    expect(ttl).toBeGreaterThan(3_500_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
    const client = await mqttConnect(String(body.token));
    client.send({
      type: "subscribe",
      messageId: 1,
      subscriptions: [
        { topic: `${app.name}/user/alice/#`, qos: 0 },
        { topic: `${app.name}/user/bob/#`, qos: 0 },
        { topic: `${app.name}/#`, qos: 0 },
      ],
    });
    const suback = (await client.next("suback")) as { granted: number[] };
    expect(suback.granted).toEqual([0, 0x87, 0x87]);
    client.close();

    expect((await admin(`/apps/${app.appkey}/mqtt-token`, { json: { sub: "a/b" } })).status).toBe(400);
    expect(
      (await admin(`/apps/${app.appkey}/mqtt-token`, { json: { sub: "a", ttl_s: 86_401 } })).status,
    ).toBe(400);
    expect((await admin("/apps/nope/mqtt-token", { json: { sub: "a" } })).status).toBe(404);
  });

  it("sends a test push through the partner path; status, targets and trace of its task", async () => {
    const app = await createApp();
    const { body: tok } = await admin(`/apps/${app.appkey}/mqtt-token`, { json: { sub: "alice" } });
    const client = await mqttConnect(String(tok.token));
    client.send({
      type: "subscribe",
      messageId: 1,
      subscriptions: [{ topic: `${app.name}/user/alice/#`, qos: 1 }],
    });
    await client.next("suback");

    const sent = await admin(`/apps/${app.appkey}/push`, {
      json: {
        type: "customizedcast",
        alias: "alice",
        payload: { display_type: "message", body: { custom: { push_type: "talk", text: "hi" } } },
      },
    });
    expect(sent.status).toBe(201);
    const taskId = String(sent.body.task_id);
    const publish = (await client.next("publish")) as { topic: string; payload: Uint8Array };
    expect(publish.topic).toBe(`${app.name}/user/alice/talk`);
    expect(JSON.parse(new TextDecoder().decode(publish.payload))).toEqual({ push_type: "talk", text: "hi" });

    const status = await settledAdmin(app.appkey, taskId);
    expect(status).toMatchObject({ task_id: taskId, status: "done", total: 1, sent: 1 });
    expect(status.by_channel).toMatchObject({ mqtt: 1 });
    // The same numbers as the partner's own call.
    expect((await psp(app, "GET", `/psp/push/status?task_id=${taskId}`)).body.data).toEqual(status);

    const targets = await admin(`/apps/${app.appkey}/tasks/${taskId}/targets`);
    expect(targets.status).toBe(200);
    expect(targets.body.targets).toEqual([expect.objectContaining({ user_id: "alice", channel: "mqtt" })]);
    const trace = await admin(`/apps/${app.appkey}/tasks/${taskId}/trace?user_id=alice`);
    expect(trace.status).toBe(200);
    expect(trace.body).toMatchObject({ task_id: taskId, msg_id: expect.any(String) });
    expect((trace.body.events as unknown[]).length).toBeGreaterThan(0);
    client.close();

    // The admin task list shows it; unknown tasks and targets are 404 in the admin envelope.
    const list = await admin(`/apps/${app.appkey}/tasks`);
    expect((list.body.items as { task_id: string }[]).map((t) => t.task_id)).toContain(taskId);
    const unknown = await admin(`/apps/${app.appkey}/tasks/nope`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: "task_not_found", message: "unknown task_id (code 1014)" });
    const noTarget = await admin(`/apps/${app.appkey}/tasks/${taskId}/trace?user_id=bob`);
    expect(noTarget.status).toBe(404);
    expect(noTarget.body.error).toBe("target_not_found");
    expect((await admin(`/apps/${app.appkey}/tasks/${taskId}/trace`)).status).toBe(400);
    expect((await admin(`/apps/${app.appkey}/tasks/${taskId}/targets?limit=0`)).status).toBe(400);
  });

  it("refuses a bad push in the admin envelope, with the partner code", async () => {
    const app = await createApp();
    const bad = await admin(`/apps/${app.appkey}/push`, { json: { alias: "alice" } });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: "invalid_parameter", message: expect.stringContaining("(code 1016)") });
    const noGroup = await admin(`/apps/${app.appkey}/push`, {
      json: {
        type: "groupcast",
        group_id: "nope",
        payload: { display_type: "message", body: { custom: "x" } },
      },
    });
    expect(noGroup.status).toBe(404);
    expect(noGroup.body.error).toBe("group_not_found");
    const notJson = await call(`/api/admin/apps/${app.appkey}/push`, {
      method: "POST",
      body: "{",
      headers: ADMIN,
    });
    expect(notJson.status).toBe(400);
  });

  it("shows a group's members with presence, and which providers have credentials", async () => {
    const app = await createApp();
    await psp(app, "PUT", "/psp/groups/family", { name: "family" });
    await psp(app, "POST", "/psp/groups/family/members", { add: ["alice", "bob"] });
    const { body: tok } = await admin(`/apps/${app.appkey}/mqtt-token`, { json: { sub: "alice" } });
    const client = await mqttConnect(String(tok.token));
    const live = await admin(`/apps/${app.appkey}/groups/family/presence`);
    expect(live.status).toBe(200);
    expect(live.body).toEqual({
      group_id: "family",
      items: [
        expect.objectContaining({ user_id: "alice", online: true, focus: 0 }),
        expect.objectContaining({ user_id: "bob", online: false, focus: 0, last_seen: null }),
      ],
      next_cursor: null,
    });
    client.close();
    expect((await admin(`/apps/${app.appkey}/groups/nope/presence`)).status).toBe(404);

    const creds = await admin(`/apps/${app.appkey}/credentials`);
    expect(creds).toMatchObject({ status: 200, body: { appkey: app.appkey, providers: [] } });
    await admin(`/apps/${app.appkey}/credentials/getui`, {
      method: "PUT",
      json: { app_id: "a", app_key: "b", master_secret: "c" },
    });
    expect((await admin(`/apps/${app.appkey}/credentials`)).body.providers).toEqual(["getui"]);
  });
});

describe("the console's files", () => {
  it("are served at /console/ with a strict content security policy", async () => {
    const page = await call("/console/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain('<script type="module" src="console.js">');
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain("unsafe");
    const script = await call("/console/console.js");
    expect(script.status).toBe(200);
    expect(await script.text()).toContain('from "./vendor/mqtt.esm.js"');
    // Everything else stays the Worker's own.
    expect((await call("/console-nope")).status).toBe(404);
    expect((await call("/")).headers.get("content-security-policy")).toBeNull();
  });
});
