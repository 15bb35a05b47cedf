import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp, pspSigned, type TestApp } from "../helpers/psp";

const json = async (res: Response) => ({
  status: res.status,
  body: (await res.json()) as Record<string, unknown>,
});
const put = (app: TestApp, id: string, body: unknown) =>
  pspSigned(app, "PUT", `/psp/groups/${id}`, JSON.stringify(body));
const members = (app: TestApp, id: string, body: unknown) =>
  pspSigned(app, "POST", `/psp/groups/${id}/members`, JSON.stringify(body));
const fail = (code: number) => ({ ret: "FAIL", data: { error_code: code, error_msg: expect.any(String) } });

const memberRows = async (app: TestApp, groupId: string) =>
  (
    await env.DB.prepare(
      "SELECT user_id FROM group_members m JOIN apps a ON a.id = m.app_id WHERE a.appkey = ? AND m.group_id = ? ORDER BY user_id",
    )
      .bind(app.appkey, groupId)
      .all<{ user_id: string }>()
  ).results.map((r) => r.user_id);

describe("PUT /psp/groups/:group_id", () => {
  it("creates, then updates a group, keeping what is not sent", async () => {
    const app = await createApp();
    expect(await json(await put(app, "org-1", { name: "Wuhan" }))).toEqual({
      status: 200,
      body: { ret: "SUCCESS", data: { group_id: "org-1", name: "Wuhan", parent_id: null } },
    });
    await put(app, "org-1.a", { name: "Hongshan", parent_id: "org-1" });
    const { body } = await json(await put(app, "org-1.a", { name: "洪山" }));
    expect(body.data).toEqual({ group_id: "org-1.a", name: "洪山", parent_id: "org-1" });
  });

  it("refuses an unknown parent with 404 and a cycle with 400, storing nothing", async () => {
    const app = await createApp();
    expect(await json(await put(app, "g1", { parent_id: "nope" }))).toEqual({
      status: 404,
      body: fail(3001),
    });
    await put(app, "a", {});
    await put(app, "b", { parent_id: "a" });
    expect(await json(await put(app, "a", { parent_id: "b" }))).toEqual({ status: 400, body: fail(1001) });
    expect(await json(await put(app, "a", { parent_id: "a" }))).toEqual({ status: 400, body: fail(1001) });
    const row = await env.DB.prepare("SELECT parent_id FROM groups WHERE group_id = 'a'").first();
    expect(row).toEqual({ parent_id: null });
  });

  it.each(["a/b", "a+b", "a#", "x".repeat(65)])("refuses the group id %j with 400, code 1001", async (id) => {
    const app = await createApp();
    const res = await put(app, encodeURIComponent(id), {});
    expect(await json(res)).toEqual({ status: 400, body: fail(1001) });
  });

  it("refuses a body that is not JSON with 2008", async () => {
    const app = await createApp();
    const res = await pspSigned(app, "PUT", "/psp/groups/g", "{oops");
    expect(await json(res)).toEqual({ status: 400, body: fail(2008) });
  });

  it("keeps each app's groups apart", async () => {
    const a = await createApp();
    const b = await createApp();
    await put(a, "shared-name", { name: "A" });
    expect((await json(await members(b, "shared-name", { add: ["u1"] }))).status).toBe(404);
  });
});

describe("POST /psp/groups/:group_id/members", () => {
  it("adds and removes members in D1", async () => {
    const app = await createApp();
    await put(app, "fam", {});
    const added = await json(await members(app, "fam", { add: ["u1", "u2", "watch:8612345"] }));
    expect(added).toEqual({
      status: 200,
      body: {
        ret: "SUCCESS",
        data: { group_id: "fam", added: ["u1", "u2", "watch:8612345"], removed: [], members: 3 },
      },
    });
    const removed = await json(await members(app, "fam", { remove: ["u2"] }));
    expect(removed.body.data).toMatchObject({ removed: ["u2"], members: 2 });
    expect(await memberRows(app, "fam")).toEqual(["u1", "watch:8612345"]);
  });

  // 3 bound values per inserted row and D1's limit of 100 per statement: 120 rows and an IN list
  // of 95 need several statements. (Each id also wakes that user's hub, hence the time limit.)
  it("adds and removes more members than one D1 statement can bind", { timeout: 60_000 }, async () => {
    const app = await createApp();
    await put(app, "big", {});
    const ids = Array.from({ length: 120 }, (_, i) => `m${String(i).padStart(3, "0")}`);
    const added = await json(await members(app, "big", { add: ids }));
    expect(added.status).toBe(200);
    expect(added.body.data).toMatchObject({ members: 120 });
    expect(await memberRows(app, "big")).toEqual(ids);

    const removed = await json(await members(app, "big", { remove: ids.slice(0, 95), add: ["m999"] }));
    expect(removed.status).toBe(200);
    expect(removed.body.data).toMatchObject({ members: 26 });
    expect(await memberRows(app, "big")).toEqual([...ids.slice(95), "m999"]);
  });

  it("answers 404 for an unknown group", async () => {
    const app = await createApp();
    expect(await json(await members(app, "ghost", { add: ["u1"] }))).toEqual({
      status: 404,
      body: fail(3001),
    });
  });

  it.each([
    ["an empty change", {}],
    ["a user id with a slash", { add: ["a/b"] }],
    ["more than 500 users", { add: Array.from({ length: 501 }, (_, i) => `u${i}`) }],
    ["an unknown field", { add: ["u1"], kick: ["u2"] }],
  ])("refuses %s with 400, code 1001, changing nothing", async (_, body) => {
    const app = await createApp();
    await put(app, "g", {});
    expect(await json(await members(app, "g", body))).toEqual({ status: 400, body: fail(1001) });
    expect(await memberRows(app, "g")).toEqual([]);
  });
});

describe("GET /psp/presence and POST /psp/mqtt/token", () => {
  it("answers a never-seen user as offline", async () => {
    const app = await createApp();
    const { status, body } = await json(await pspSigned(app, "GET", "/psp/presence?user_id=nobody"));
    expect(status).toBe(200);
    expect(body).toEqual({
      ret: "SUCCESS",
      data: { user_id: "nobody", online: false, focus: 0, last_seen: null },
    });
  });

  it("refuses a missing or bad user_id with 400", async () => {
    const app = await createApp();
    expect((await pspSigned(app, "GET", "/psp/presence")).status).toBe(400);
    expect((await pspSigned(app, "GET", "/psp/presence?user_id=a%2Fb")).status).toBe(400);
  });

  it("mints a token whose subject is the bare id, valid 30 days by default", async () => {
    const app = await createApp();
    const { status, body } = await json(
      await pspSigned(app, "POST", "/psp/mqtt/token", JSON.stringify({ sub: "u1" })),
    );
    expect(status).toBe(200);
    const data = body.data as { token: string; sub: string; expires_at: string };
    expect(data.sub).toBe("u1");
    const days = (Date.parse(data.expires_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);
    const payload = JSON.parse(atob(data.token.split(".")[1]?.replace(/-/g, "+").replace(/_/g, "/") ?? ""));
    expect(payload).toMatchObject({ sub: "u1", app: expect.stringMatching(/^app-/), typ: "mqtt" });
  });

  it("carries an optional device_class into the token (cls) and the answer", async () => {
    const app = await createApp();
    const { status, body } = await json(
      await pspSigned(app, "POST", "/psp/mqtt/token", JSON.stringify({ sub: "w1", device_class: "watch" })),
    );
    expect(status).toBe(200);
    const data = body.data as { token: string; device_class: string };
    expect(data.device_class).toBe("watch");
    const payload = JSON.parse(atob(data.token.split(".")[1]?.replace(/-/g, "+").replace(/_/g, "/") ?? ""));
    expect(payload).toMatchObject({ sub: "w1", cls: "watch" });
    const bad = await pspSigned(
      app,
      "POST",
      "/psp/mqtt/token",
      JSON.stringify({ sub: "w1", device_class: "car" }),
    );
    expect(bad.status).toBe(400);
  });

  it.each([
    [{ sub: "a/b" }],
    [{ sub: "" }],
    [{ sub: "u1", ttl_s: 10 }],
    [{ sub: "u1", ttl_s: 400 * 86400 }],
    [{}],
  ])("refuses %j with 400, code 1001", async (body) => {
    const app = await createApp();
    const res = await pspSigned(app, "POST", "/psp/mqtt/token", JSON.stringify(body));
    expect(await json(res)).toEqual({ status: 400, body: fail(1001) });
  });
});
