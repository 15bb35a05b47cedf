import { describe, expect, it, vi } from "vitest";
import { admin } from "../helpers/api";
import { mqttConnect } from "../helpers/mqtt-ws";
import { createApp, pspSigned, type TestApp } from "../helpers/psp";
import { registerTechnician } from "../helpers/technicians";

// Issue 13 item 2: paged lists for operators, on the partner surface (own app) and the admin
// surface (any app), through the Worker's fetch entry point.

type Page = { items: Record<string, unknown>[]; next_cursor: string | null };
type Psp = { ret: string; data: Record<string, unknown> };

const psp = async (app: TestApp, method: string, path: string, body?: unknown) => {
  const res = await pspSigned(app, method, path, body === undefined ? "" : JSON.stringify(body));
  return { status: res.status, body: (await res.json()) as Psp };
};

/** Walks every page of a list, `next` giving one page for a cursor. */
const walk = async (next: (cursor: string | null) => Promise<Page>) => {
  const items: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await next(cursor);
    items.push(...page.items);
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor !== null && pages < 100);
  return { items, pages };
};
const sep = (path: string) => (path.includes("?") ? "&" : "?");
const pspWalk = (app: TestApp, path: string) =>
  walk(async (cursor) => {
    const res = await psp(app, "GET", cursor ? `${path}${sep(path)}cursor=${cursor}` : path);
    expect(res.status).toBe(200);
    expect(res.body.ret).toBe("SUCCESS");
    return res.body.data as unknown as Page;
  });
const adminWalk = (path: string) =>
  walk(async (cursor) => {
    const res = await admin(cursor ? `${path}${sep(path)}cursor=${cursor}` : path);
    expect(res.status).toBe(200);
    return res.body as unknown as Page;
  });

const device = (app: TestApp, token: string, platform: string, userId?: string) =>
  psp(app, "POST", "/psp/devices", {
    device_token: token,
    platform,
    provider: platform === "ios" ? "apns" : "fcm",
    ...(userId ? { user_id: userId } : {}),
  });
const message = { display_type: "message", body: { custom: "hi" } };
const pushTo = async (app: TestApp, body: Record<string, unknown>) => {
  const res = await psp(app, "POST", "/psp/push/msg", { payload: message, ...body });
  expect(res.status).toBe(200);
  return String(res.body.data.task_id);
};

describe("GET /psp/devices and /api/admin/apps/:appkey/devices", () => {
  it("walks every device exactly once across pages, filters by platform and user, and keeps apps apart", async () => {
    const app = await createApp();
    const other = await createApp();
    const tokens: string[] = [];
    for (let i = 0; i < 7; i++) {
      const token = `tok${i}a${"b".repeat(i)}`;
      tokens.push(token);
      await device(app, token, i % 2 ? "android" : "ios", i < 3 ? "u1" : "u2");
    }
    await device(other, "elsewhere1", "ios", "u1");

    const all = await pspWalk(app, "/psp/devices?limit=3");
    expect(all.pages).toBe(3);
    expect(all.items.map((d) => d.device_token)).toEqual([...tokens].sort());
    expect(all.items[0]).toMatchObject({ platform: "ios", provider: "apns", user_id: "u1" });

    const ios = await pspWalk(app, "/psp/devices?platform=ios&limit=2");
    expect(ios.items.map((d) => d.device_token).sort()).toEqual(tokens.filter((_, i) => i % 2 === 0).sort());
    const u1 = await pspWalk(app, "/psp/devices?user_id=u1");
    expect(u1.items.map((d) => d.device_token).sort()).toEqual(tokens.slice(0, 3).sort());
    const alias = await pspWalk(app, "/psp/devices?alias=u2&platform=android");
    expect(alias.items.map((d) => d.device_token).sort()).toEqual([tokens[3], tokens[5]].sort());

    // The other app sees only its own device; the admin surface sees each app's own.
    expect((await pspWalk(other, "/psp/devices")).items.map((d) => d.device_token)).toEqual(["elsewhere1"]);
    const viaAdmin = await adminWalk(`/apps/${app.appkey}/devices?limit=4`);
    expect(viaAdmin.items.map((d) => d.device_token)).toEqual([...tokens].sort());
  });

  it("refuses bad parameters: 1001 on the partner surface, invalid_parameter on the admin one", async () => {
    const app = await createApp();
    for (const query of [
      "platform=windows",
      "limit=0",
      "limit=201",
      "cursor=nope",
      "user_id=a/b",
      "color=red",
    ]) {
      const res = await psp(app, "GET", `/psp/devices?${query}`);
      expect([query, res.status, res.body.data.error_code]).toEqual([query, 400, 1001]);
      const viaAdmin = await admin(`/apps/${app.appkey}/devices?${query}`);
      expect([query, viaAdmin.status, viaAdmin.body.error]).toEqual([query, 400, "invalid_parameter"]);
    }
    expect((await admin("/apps/nope/devices")).status).toBe(404);
  });
});

describe("GET /psp/tasks and /api/admin/apps/:appkey/tasks", () => {
  it("lists tasks newest first, once each across pages, by type, status and time", async () => {
    const app = await createApp();
    const other = await createApp();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await pushTo(app, { type: "customizedcast", alias: `u${i}` }));
    ids.push(await pushTo(app, { type: "broadcast" }));
    await pushTo(other, { type: "broadcast" });

    const all = await pspWalk(app, "/psp/tasks?limit=2");
    expect(all.pages).toBe(3);
    expect(all.items.map((t) => t.task_id)).toEqual([...ids].reverse());
    expect(all.items[0]).toMatchObject({ type: "broadcast", kind: "msg", status: expect.any(String) });

    const broadcast = await pspWalk(app, "/psp/tasks?type=broadcast");
    expect(broadcast.items.map((t) => t.task_id)).toEqual([ids[4]]);
    // By status: the broadcast's, once it has ended (the consumer may still be moving it).
    await vi.waitFor(
      async () => {
        const [b] = (await pspWalk(app, "/psp/tasks?type=broadcast")).items;
        const status = String(b?.status);
        expect(["done", "failed"]).toContain(status);
        const byStatus = await pspWalk(app, `/psp/tasks?status=${status}`);
        expect(byStatus.items.every((t) => t.status === status)).toBe(true);
        expect(byStatus.items.map((t) => t.task_id)).toContain(ids[4]);
      },
      { timeout: 10_000, interval: 200 },
    );

    // since is inclusive, until exclusive, in milliseconds or ISO 8601.
    const times = all.items.map((t) => Date.parse(String(t.created_at)));
    const newest = Math.max(...times);
    const since = await pspWalk(app, `/psp/tasks?since=${newest}`);
    expect(since.items.map((t) => t.task_id)).toContain(ids[4]);
    expect(since.items.every((t) => Date.parse(String(t.created_at)) >= newest)).toBe(true);
    const until = await pspWalk(
      app,
      `/psp/tasks?until=${encodeURIComponent(new Date(newest).toISOString())}`,
    );
    expect(until.items.map((t) => t.task_id)).not.toContain(ids[4]);
    expect(until.items.length + since.items.length).toBe(ids.length);

    const viaAdmin = await adminWalk(`/apps/${app.appkey}/tasks?limit=3`);
    expect(viaAdmin.items.map((t) => t.task_id)).toEqual([...ids].reverse());
    expect((await pspWalk(other, "/psp/tasks")).items).toHaveLength(1);
    const bad = await psp(app, "GET", "/psp/tasks?since=yesterday");
    expect([bad.status, bad.body.data.error_code]).toEqual([400, 1001]);
  });
});

describe("groups and members", () => {
  it("lists groups with member counts and members once each; another app's group is 404", async () => {
    const app = await createApp();
    const other = await createApp();
    for (const g of ["g3", "g1", "g2"]) await psp(app, "PUT", `/psp/groups/${g}`, { name: g });
    await psp(app, "PUT", "/psp/groups/g1.a", { parent_id: "g1" });
    const users = Array.from({ length: 5 }, (_, i) => `m${i}`);
    await psp(app, "POST", "/psp/groups/g1/members", { add: users });
    await psp(other, "PUT", "/psp/groups/g9", {});

    const groups = await pspWalk(app, "/psp/groups?limit=2");
    expect(groups.items.map((g) => g.group_id)).toEqual(["g1", "g1.a", "g2", "g3"]);
    expect(groups.items[0]).toMatchObject({ name: "g1", parent_id: null, members: 5 });
    const children = await pspWalk(app, "/psp/groups?parent_id=g1");
    expect(children.items.map((g) => g.group_id)).toEqual(["g1.a"]);

    const members = await pspWalk(app, "/psp/groups/g1/members?limit=2");
    expect(members.pages).toBe(3);
    expect(members.items.map((m) => m.user_id)).toEqual(users);
    const viaAdmin = await adminWalk(`/apps/${app.appkey}/groups/g1/members?limit=4`);
    expect(viaAdmin.items.map((m) => m.user_id)).toEqual(users);
    expect((await adminWalk(`/apps/${app.appkey}/groups`)).items).toHaveLength(4);

    const foreign = await psp(other, "GET", "/psp/groups/g1/members");
    expect([foreign.status, foreign.body.data.error_code]).toEqual([404, 3001]);
    expect((await admin(`/apps/${other.appkey}/groups/g1/members`)).status).toBe(404);
    expect((await pspWalk(other, "/psp/groups")).items.map((g) => g.group_id)).toEqual(["g9"]);
  });
});

describe("GET /psp/users/:user_id/sessions", () => {
  it("shows a user's MQTT sessions, and nothing to another app", async () => {
    const app = await createApp();
    const other = await createApp();
    const token = String((await psp(app, "POST", "/psp/mqtt/token", { sub: "u1" })).body.data.token);
    const live = await mqttConnect(token, 5, "phone");
    live.send({
      type: "subscribe",
      messageId: 1,
      subscriptions: [{ topic: `${app.name}/user/u1/#`, qos: 1 }],
    });
    await live.next("suback");
    const watch = await mqttConnect(token, 4, "watch");

    const res = await psp(app, "GET", "/psp/users/u1/sessions");
    expect(res.status).toBe(200);
    expect(res.body.data.user_id).toBe("u1");
    const sessions = res.body.data.sessions as Record<string, unknown>[];
    expect(sessions.map((s) => s.client_id)).toEqual(["phone", "watch"]);
    expect(sessions[0]).toMatchObject({
      protocol_level: 5,
      connected: true,
      subscriptions: 1,
      queued: 0,
      expires_at: null,
      since: expect.any(String),
    });
    expect(sessions[1]).toMatchObject({ protocol_level: 4, connected: true, subscriptions: 0 });

    // A clean session ends with its connection.
    await psp(app, "POST", "/psp/users/u1/kick", { client_id: "watch" });
    await watch.closed;
    const after = await psp(app, "GET", "/psp/users/u1/sessions");
    expect((after.body.data.sessions as { client_id: string }[]).map((s) => s.client_id)).toEqual(["phone"]);

    const viaAdmin = await admin(`/apps/${app.appkey}/users/u1/sessions`);
    expect(viaAdmin.status).toBe(200);
    expect((viaAdmin.body.sessions as { client_id: string }[]).map((s) => s.client_id)).toEqual(["phone"]);
    const foreign = await psp(other, "GET", "/psp/users/u1/sessions");
    expect(foreign.body.data).toEqual({ user_id: "u1", sessions: [] });
    live.close();
  });
});

describe("GET /api/admin/technicians", () => {
  it("walks the technicians once each by id and filters by status, BANNED included", async () => {
    const a = await registerTechnician();
    const b = await registerTechnician();
    const c = await registerTechnician();
    expect((await admin(`/technicians/${b.id}/ban`, { method: "POST" })).status).toBe(200);

    const all = await adminWalk("/technicians?limit=2");
    const ids = all.items.map((t) => Number(t.id));
    expect(ids).toEqual([...new Set(ids)].sort((x, y) => x - y));
    expect(ids).toEqual(expect.arrayContaining([a.id, b.id, c.id]));
    expect(JSON.stringify(all.items)).not.toMatch(/password/i);

    const banned = await adminWalk("/technicians?status=BANNED");
    expect(banned.items.map((t) => t.id)).toContain(b.id);
    expect(banned.items.every((t) => t.status === "BANNED")).toBe(true);
    const fresh = await adminWalk("/technicians?status=NEWLY_CREATED");
    expect(fresh.items.map((t) => t.id)).toEqual(expect.arrayContaining([a.id, c.id]));
    expect(fresh.items.map((t) => t.id)).not.toContain(b.id);
    expect((await admin("/technicians?status=SLEEPING")).status).toBe(400);
  });
});
