import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin } from "../helpers/api";
import { mqttConnect, upgradeStatus } from "../helpers/mqtt-ws";
import { createApp, pspSigned, type TestApp } from "../helpers/psp";

// Issue 14 §3 and issue 13's operator calls: revoking a user's tokens, kicking it, disabling its
// app end the connections already open; the partner surface and the admin surface alike.

type Json = { ret: string; data: Record<string, unknown> };
const psp = async (app: TestApp, method: string, path: string, body?: unknown) => {
  const res = await pspSigned(app, method, path, body === undefined ? "" : JSON.stringify(body));
  return { status: res.status, body: (await res.json()) as Json };
};
const tokenFor = async (app: TestApp, sub: string) =>
  String((await psp(app, "POST", "/psp/mqtt/token", { sub })).body.data.token);
const reasonOf = async (c: Awaited<ReturnType<typeof mqttConnect>>) => {
  await c.closed;
  return (c.packets.find((p) => p.type === "disconnect") as { reasonCode?: number } | undefined)?.reasonCode;
};

describe("POST /psp/users/:user_id/revoke-tokens", () => {
  it("closes the user's connections (0x98); its old tokens open nothing, a new one does", async () => {
    const app = await createApp();
    const old = await tokenFor(app, "u1");
    const v5 = await mqttConnect(old, 5, "phone");
    const v4 = await mqttConnect(old, 4, "watch");
    const res = await psp(app, "POST", "/psp/users/u1/revoke-tokens");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ret: "SUCCESS", data: { user_id: "u1", token_generation: 1, closed: 2 } });
    expect(await reasonOf(v5)).toBe(0x98);
    await v4.closed;
    expect(await upgradeStatus(old)).toBe(401);
    expect(await upgradeStatus(await tokenFor(app, "u1"))).toBe(101);
  });

  it("leaves other users and other apps alone", async () => {
    const app = await createApp();
    const other = await createApp();
    const u2 = await tokenFor(app, "u2");
    const elsewhere = await tokenFor(other, "u1");
    await psp(app, "POST", "/psp/users/u1/revoke-tokens");
    expect(await upgradeStatus(u2)).toBe(101);
    expect(await upgradeStatus(elsewhere)).toBe(101);
  });

  it("refuses a bad user id (1001), a body that is not JSON (2008) or has fields (1001)", async () => {
    const app = await createApp();
    const code = (r: { status: number; body: Json }) => [r.status, r.body.data.error_code];
    expect(code(await psp(app, "POST", "/psp/users/a%2Fb/revoke-tokens"))).toEqual([400, 1001]);
    const notJson = await pspSigned(app, "POST", "/psp/users/u1/revoke-tokens", "nope");
    expect(((await notJson.json()) as Json).data.error_code).toBe(2008);
    expect(code(await psp(app, "POST", "/psp/users/u1/revoke-tokens", { all: true }))).toEqual([400, 1001]);
  });
});

describe("POST /psp/users/:user_id/kick", () => {
  it("closes the connections with 0x98; the token still works", async () => {
    const app = await createApp();
    const token = await tokenFor(app, "u1");
    const client = await mqttConnect(token);
    const res = await psp(app, "POST", "/psp/users/u1/kick");
    expect(res.body).toEqual({ ret: "SUCCESS", data: { user_id: "u1", closed: 1 } });
    expect(await reasonOf(client)).toBe(0x98);
    expect(await upgradeStatus(token)).toBe(101);
  });

  it("with client_id, only that client", async () => {
    const app = await createApp();
    const token = await tokenFor(app, "u1");
    const phone = await mqttConnect(token, 5, "phone");
    const watch = await mqttConnect(token, 5, "watch");
    const res = await psp(app, "POST", "/psp/users/u1/kick", { client_id: "watch" });
    expect(res.body.data.closed).toBe(1);
    expect(await reasonOf(watch)).toBe(0x98);
    phone.send({ type: "pingreq" });
    expect((await phone.next("pingresp")).type).toBe("pingresp");
    phone.close();
  });
});

describe("admin: /api/admin/apps/:appkey/users/:user_id/…", () => {
  it("revoke-tokens and kick work on any app", async () => {
    const app = await createApp();
    const old = await tokenFor(app, "u1");
    const client = await mqttConnect(old);
    const kick = await admin(`/apps/${app.appkey}/users/u1/kick`, { method: "POST" });
    expect(kick.body).toEqual({ appkey: app.appkey, user_id: "u1", closed: 1 });
    expect(await reasonOf(client)).toBe(0x98);
    const revoke = await admin(`/apps/${app.appkey}/users/u1/revoke-tokens`, { method: "POST" });
    expect(revoke.body).toEqual({ appkey: app.appkey, user_id: "u1", token_generation: 1, closed: 0 });
    expect(await upgradeStatus(old)).toBe(401);
  });

  it("answers 404 for an unknown app and 400 for a bad user id or body", async () => {
    const app = await createApp();
    expect((await admin("/apps/nope/users/u1/kick", { method: "POST" })).status).toBe(404);
    const bad = await admin(`/apps/${app.appkey}/users/a%2Fb/revoke-tokens`, { method: "POST" });
    expect([bad.status, bad.body.error]).toEqual([400, "invalid_parameter"]);
    const field = await admin(`/apps/${app.appkey}/users/u1/kick`, { json: { client_id: 7 } });
    expect([field.status, field.body.error]).toEqual([400, "invalid_parameter"]);
  });
});

describe("disabling an app", () => {
  it("closes every open connection of the app (0x98) and refuses new upgrades; enabling lets them in", async () => {
    const app = await createApp();
    const t1 = await tokenFor(app, "u1");
    const t2 = await tokenFor(app, "u2");
    const a = await mqttConnect(t1, 5, "a");
    const b = await mqttConnect(t2, 4, "b");
    const off = await admin(`/apps/${app.appkey}`, { method: "PUT", json: { enabled: false } });
    expect(off.status).toBe(200);
    expect(await reasonOf(a)).toBe(0x98);
    await b.closed;
    expect(await upgradeStatus(t1)).toBe(403);
    await admin(`/apps/${app.appkey}`, { method: "PUT", json: { enabled: true } });
    expect(await upgradeStatus(t1)).toBe(101);
  });
});

describe("GroupHub: a removed member's publish is refused behind the UserHub's check", () => {
  it("is not delivered and not retained; once added again it is", async () => {
    const app = await createApp();
    await psp(app, "PUT", "/psp/groups/fam", {});
    await psp(app, "POST", "/psp/groups/fam/members", { add: ["u1"] });
    await psp(app, "POST", "/psp/groups/fam/members", { remove: ["u1"] });
    const hub = env.GROUP_HUB.get(env.GROUP_HUB.idFromName(`${app.name}:fam`));
    const message = {
      topic: `${app.name}/group/fam/state`,
      payload: new TextEncoder().encode("x"),
      qos: 0 as const,
      retain: true,
      from: "u1/phone",
    };
    expect(await hub.publish(app.name, "fam", message)).toBe(0);
    // A client's own message (and Will) comes through accept(), at QoS 0 and 1 alike.
    await hub.accept(app.name, "fam", message);
    await hub.accept(app.name, "fam", { ...message, qos: 1 });
    expect(await hub.backlog()).toBe(0);
    expect(await hub.retained(app.name, "fam")).toEqual([]);
    await psp(app, "POST", "/psp/groups/fam/members", { add: ["u1"] });
    await hub.publish(app.name, "fam", message);
    expect((await hub.retained(app.name, "fam")).length).toBe(1);
  });
});
