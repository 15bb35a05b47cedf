import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin, callJson } from "../helpers/api";
import { createApp, pspSigned } from "../helpers/psp";

type AppJson = Record<string, unknown>;

describe("admin authentication (CONTRACT §1)", () => {
  it.each([
    ["no token", {}],
    ["a wrong token", { authorization: "Bearer nope" }],
    ["the right token in the wrong scheme", { authorization: `Basic ${env.ADMIN_TOKEN}` }],
  ])("answers 401 and nothing else with %s", async (_, headers) => {
    for (const path of ["/api/admin/apps", "/api/admin/apps/whatever", "/api/admin/no-such-route"]) {
      const { status, body } = await callJson(path, { headers });
      expect(status).toBe(401);
      expect(body).toEqual({ error: "unauthorized", message: "a valid admin bearer token is required" });
    }
  });
});

describe("apps", () => {
  it("lists the built-in technician app, without secrets", async () => {
    const { status, body } = await admin("/apps");
    expect(status).toBe(200);
    const list = body as unknown as AppJson[];
    const technician = list.find((a) => a.name === "technician");
    expect(technician).toMatchObject({ enabled: true, legacy_token: true, push_rate_limit: 100 });
    expect(technician?.appkey).toMatch(/^[0-9a-f]{24}$/);
    for (const app of list) expect(Object.keys(app).some((k) => k.includes("secret"))).toBe(false);
  });

  it("creates an app: 201 with the secret shown once, stored encrypted", async () => {
    const { status, body } = await admin("/apps", {
      json: { name: "police-mobile", ios_payload_limit: 256, android_payload_limit: 1024 },
    });
    expect(status).toBe(201);
    expect(Object.keys(body).sort()).toEqual(["app_master_secret", "appkey", "name"]);
    expect(body.name).toBe("police-mobile");
    expect(body.appkey).toMatch(/^[0-9a-f]{24}$/);
    expect(body.app_master_secret).toMatch(/^[0-9a-f]{32}$/);

    const row = await env.DB.prepare("SELECT * FROM apps WHERE appkey = ?").bind(body.appkey).first();
    expect(row).toMatchObject({ name: "police-mobile", ios_payload_limit: 256, android_payload_limit: 1024 });
    expect(String(row?.master_secret_enc)).not.toContain(String(body.app_master_secret));

    const got = await admin(`/apps/${body.appkey}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      name: "police-mobile",
      appkey: body.appkey,
      enabled: true,
      legacy_token: true,
      ios_payload_limit: 256,
      android_payload_limit: 1024,
      push_rate_limit: 100,
    });
    expect(JSON.stringify(got.body)).not.toContain(String(body.app_master_secret));
  });

  it("refuses a second app of the same name with 409", async () => {
    const app = await createApp();
    const { status, body } = await admin("/apps", { json: { name: app.name } });
    expect(status).toBe(409);
    expect(body.error).toBe("app_exists");
    const { results } = await env.DB.prepare("SELECT id FROM apps WHERE name = ?").bind(app.name).all();
    expect(results).toHaveLength(1);
  });

  it.each([
    ["a name with capitals", { name: "Police" }],
    ["a name starting with a digit", { name: "1app" }],
    ["a one-letter name", { name: "a" }],
    ["a name with a slash", { name: "a/b" }],
    ["a name of 33 characters", { name: `a${"b".repeat(32)}` }],
    ["no name", {}],
    ["a payload limit over 4096", { name: "big-limit", ios_payload_limit: 5000 }],
    ["a payload limit that is not a number", { name: "str-limit", android_payload_limit: "1024" }],
    ["an unknown field", { name: "extra-field", color: "red" }],
  ])("refuses %s with 400", async (_, json) => {
    const { status, body } = await admin("/apps", { json });
    expect(status).toBe(400);
    expect(body.error).toBe("invalid_parameter");
    expect(String(body.message)).not.toBe("");
    if ("name" in json) {
      const row = await env.DB.prepare("SELECT id FROM apps WHERE name = ?").bind(json.name).first();
      expect(row).toBeNull();
    }
  });

  it("refuses a body that is not JSON with 400", async () => {
    const { status, body } = await admin("/apps", {
      body: "{name:",
      headers: { "content-type": "application/json" },
    });
    expect(status).toBe(400);
    expect(body.error).toBe("invalid_json");
  });

  it("changes settings and answers the app", async () => {
    const app = await createApp();
    const { status, body } = await admin(`/apps/${app.appkey}`, {
      method: "PUT",
      json: { enabled: false, legacy_token: false, ios_payload_limit: 256, push_rate_limit: 5 },
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      enabled: false,
      legacy_token: false,
      ios_payload_limit: 256,
      push_rate_limit: 5,
    });
    const row = await env.DB.prepare(
      "SELECT enabled, legacy_token, ios_payload_limit, push_rate_limit FROM apps WHERE appkey = ?",
    )
      .bind(app.appkey)
      .first();
    expect(row).toEqual({ enabled: 0, legacy_token: 0, ios_payload_limit: 256, push_rate_limit: 5 });
  });

  it("refuses bad settings with 400 and leaves the app as it was", async () => {
    const app = await createApp();
    for (const json of [
      { enabled: "no" },
      { push_rate_limit: 0 },
      { push_rate_limit: 1.5 },
      { name: "rename" },
    ]) {
      const { status } = await admin(`/apps/${app.appkey}`, { method: "PUT", json });
      expect(status).toBe(400);
    }
    const { body } = await admin(`/apps/${app.appkey}`);
    expect(body).toMatchObject({ name: app.name, enabled: true, push_rate_limit: 100 });
  });

  it("keeps mqtt_keepalive (per device class, floor, ceiling), refuses bad ones, and clears it with null", async () => {
    const app = await createApp();
    expect((await admin(`/apps/${app.appkey}`)).body.mqtt_keepalive).toBeNull();
    const setting = { watch: 300, phone: 120, min: 30, max: 600 };
    const put = await admin(`/apps/${app.appkey}`, { method: "PUT", json: { mqtt_keepalive: setting } });
    expect(put.status).toBe(200);
    expect(put.body.mqtt_keepalive).toEqual(setting);
    expect((await admin(`/apps/${app.appkey}`)).body.mqtt_keepalive).toEqual(setting);
    for (const bad of [{ min: 100, max: 50 }, { watch: 0 }, { watch: 70000 }, { tablet: 60 }, { max: 1.5 }]) {
      const { status } = await admin(`/apps/${app.appkey}`, { method: "PUT", json: { mqtt_keepalive: bad } });
      expect(status).toBe(400);
    }
    expect((await admin(`/apps/${app.appkey}`)).body.mqtt_keepalive).toEqual(setting);
    const cleared = await admin(`/apps/${app.appkey}`, { method: "PUT", json: { mqtt_keepalive: null } });
    expect(cleared.body.mqtt_keepalive).toBeNull();
  });

  it("answers 404 for an unknown appkey", async () => {
    expect((await admin("/apps/ffffffffffffffffffffffff")).status).toBe(404);
    const put = await admin("/apps/ffffffffffffffffffffffff", { method: "PUT", json: { enabled: false } });
    expect(put.status).toBe(404);
    expect(put.body.error).toBe("app_not_found");
  });

  it("rotates the master secret: the new one signs, the old one no longer does", async () => {
    const app = await createApp();
    const { status, body } = await admin(`/apps/${app.appkey}/secret`, { method: "POST" });
    expect(status).toBe(200);
    expect(body.app_master_secret).toMatch(/^[0-9a-f]{32}$/);
    expect(body.app_master_secret).not.toBe(app.app_master_secret);
    expect((await pspSigned(app, "GET", "/psp/app")).status).toBe(401);
    const fresh = { ...app, app_master_secret: String(body.app_master_secret) };
    expect((await pspSigned(fresh, "GET", "/psp/app")).status).toBe(200);
  });
});
