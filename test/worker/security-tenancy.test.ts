import { env } from "cloudflare:workers";
import { SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import { admin, call } from "../helpers/api";
import { createApp, pspSigned, type TestApp } from "../helpers/psp";
import { registerTechnician, T } from "../helpers/technicians";

type Json = { ret: string; data: Record<string, unknown> };
const psp = async (app: TestApp, method: string, path: string, body?: unknown) => {
  const res = await pspSigned(app, method, path, body === undefined ? "" : JSON.stringify(body));
  return { status: res.status, body: (await res.json()) as Json };
};
const key = (secret: string) => new TextEncoder().encode(secret);

/** A token as the platform signs them (HS256, issuer edge-push), with what a test changes. */
const token = (
  claims: Record<string, unknown>,
  opts: { secret?: string; alg?: string; iss?: string; exp?: number } = {},
) =>
  new SignJWT({ app: "technician", typ: "mqtt", ...claims })
    .setProtectedHeader({ alg: opts.alg ?? "HS256", typ: "JWT" })
    .setIssuer(opts.iss ?? "edge-push")
    .setSubject(String(claims.sub ?? "u1"))
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 3600)
    .sign(key(opts.secret ?? env.JWT_SECRET));

const upgrade = (t: string) =>
  call(`/mqtt?token=${encodeURIComponent(t)}`, { headers: { upgrade: "websocket" } });

describe("tokens: forged, expired or misused ones open nothing", () => {
  it("a genuine MQTT token upgrades (the control)", async () => {
    const app = await createApp();
    const { body } = await psp(app, "POST", "/psp/mqtt/token", { sub: "u1" });
    const res = await upgrade(String(body.data.token));
    expect(res.status).toBe(101);
    res.webSocket?.accept();
    res.webSocket?.close(1000);
  });

  it.each([
    [
      "alg none",
      async (app: string) =>
        new UnsecuredJWT({ app, typ: "mqtt" })
          .setSubject("u1")
          .setIssuer("edge-push")
          .setExpirationTime("1h")
          .encode(),
    ],
    ["a wrong key", (app: string) => token({ app }, { secret: "not-the-jwt-secret-0123456789abcd" })],
    ["HS512 with the right key", (app: string) => token({ app }, { alg: "HS512" })],
    ["expired", (app: string) => token({ app }, { exp: Math.floor(Date.now() / 1000) - 10 })],
    ["another issuer", (app: string) => token({ app }, { iss: "someone-else" })],
    ["another kind of token", (app: string) => token({ app, typ: "refresh" })],
    ["a subject outside the id rule", (app: string) => token({ app, sub: "u1/#" })],
    ["an app that does not exist", () => token({ app: "no-such-app" })],
  ])("/mqtt refuses %s with 401 and no upgrade", async (_, make) => {
    const app = await createApp();
    const res = await upgrade(await make(app.name));
    expect(res.status).toBe(401);
    expect(res.webSocket).toBeNull();
  });

  it("/mqtt refuses a token of a disabled app with 403", async () => {
    const app = await createApp();
    const { body } = await psp(app, "POST", "/psp/mqtt/token", { sub: "u1" });
    await admin(`/apps/${app.appkey}`, { method: "PUT", json: { enabled: false } });
    expect((await upgrade(String(body.data.token))).status).toBe(403);
  });

  it.each([
    [
      "alg none",
      (sub: string, sid: string) =>
        new UnsecuredJWT({ app: "technician", typ: "session", sid })
          .setSubject(sub)
          .setIssuer("edge-push")
          .setExpirationTime("1h")
          .encode(),
    ],
    [
      "a wrong key",
      (sub: string, sid: string) => token({ sub, typ: "session", sid }, { secret: "x".repeat(32) }),
    ],
    [
      "expired",
      (sub: string, sid: string) =>
        token({ sub, typ: "session", sid }, { exp: Math.floor(Date.now() / 1000) - 10 }),
    ],
    ["an MQTT token for the same id", (sub: string) => token({ sub, typ: "mqtt" })],
    [
      "a session token of another app",
      (sub: string, sid: string) => token({ sub, typ: "session", sid, app: "xunqun" }),
    ],
    [
      "a session id that was never opened",
      (sub: string) => token({ sub, typ: "session", sid: "0".repeat(32) }),
    ],
  ])("the technician API refuses %s with 401 未登录", async (_, make) => {
    const tech = await registerTechnician();
    const sid = String(JSON.parse(atob(tech.token.split(".")[1] as string)).sid);
    const forged = await make(String(tech.id), sid);
    const res = await call(`${T}/me`, { token: forged });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ status: false, message: "未登录" });
    expect((await call(`${T}/me`, { token: tech.token })).status).toBe(200); // the control
  });
});

describe("tenancy: another app's ids are unknown (404), never data", () => {
  it("tasks, devices and groups of app A, called by app B", async () => {
    const [a, b] = [await createApp(), await createApp()];
    expect(
      (
        await psp(a, "POST", "/psp/devices", {
          device_token: "a0a0a0",
          platform: "android",
          provider: "fcm",
          user_id: "u1",
        })
      ).status,
    ).toBe(200);
    expect((await psp(a, "PUT", "/psp/groups/fam", { name: "A's family" })).status).toBe(200);
    const task = await psp(a, "POST", "/psp/push/msg", {
      type: "unicast",
      device_tokens: "a0a0a0",
      payload: { display_type: "message", body: { custom: "for A" } },
      policy: { start_time: new Date(Date.now() + 3_600_000).toISOString() },
    });
    const taskId = String(task.body.data.task_id);

    const code = (r: { status: number; body: Json }) => [r.status, r.body.data.error_code];
    expect(code(await psp(b, "GET", `/psp/push/status?task_id=${taskId}`))).toEqual([404, 1014]);
    expect(code(await psp(b, "POST", "/psp/push/cancel", { task_id: taskId }))).toEqual([404, 1014]);
    expect(code(await psp(b, "DELETE", "/psp/devices/a0a0a0"))).toEqual([404, 3002]);
    expect(code(await psp(b, "POST", "/psp/groups/fam/members", { add: ["intruder"] }))).toEqual([404, 3001]);
    expect(
      code(
        await psp(b, "POST", "/psp/push/msg", {
          type: "groupcast",
          group_id: "fam",
          payload: { display_type: "message", body: { custom: "x" } },
        }),
      ),
    ).toEqual([404, 3001]);

    // B's own group of the same name is B's; A's task, device and group are untouched.
    expect((await psp(b, "PUT", "/psp/groups/fam", { name: "B's family" })).status).toBe(200);
    const status = await psp(a, "GET", `/psp/push/status?task_id=${taskId}`);
    expect(status.body.data.status).toBe("scheduled");
    const rows = await env.DB.prepare(
      "SELECT g.name FROM groups g JOIN apps x ON x.id = g.app_id WHERE x.appkey = ? AND g.group_id = 'fam'",
    )
      .bind(a.appkey)
      .all<{ name: string }>();
    expect(rows.results).toEqual([{ name: "A's family" }]);
    const members = await env.DB.prepare(
      "SELECT count(*) AS n FROM group_members WHERE user_id = 'intruder'",
    ).first<{ n: number }>();
    expect(members?.n).toBe(0);
  });

  it("a push from B to A's device token reaches nothing of A's: UNKNOWN_DEVICE", async () => {
    const [a, b] = [await createApp(), await createApp()];
    await psp(a, "POST", "/psp/devices", { device_token: "b1b1b1", platform: "android", provider: "fcm" });
    const { body } = await psp(b, "POST", "/psp/push/msg", {
      type: "unicast",
      device_tokens: "b1b1b1",
      payload: { display_type: "message", body: { custom: "x" } },
    });
    const taskId = String(body.data.task_id);
    let data: Record<string, unknown> = {};
    for (let i = 0; i < 100 && !["done", "failed"].includes(String(data.status)); i++) {
      data = (await psp(b, "GET", `/psp/push/status?task_id=${taskId}`)).body.data;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(data).toMatchObject({
      status: "failed",
      failures: [{ device_token: "b1b1b1", reason: "UNKNOWN_DEVICE" }],
    });
  });
});
