import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { call } from "../helpers/api";
import { createApp } from "../helpers/psp";
import { psp } from "../helpers/push";
import { cookieToken, newPhone, requestCode, smsRow, T } from "../helpers/technicians";

// D1 failing in the middle of a request (issue 14 §5). The failure is D1's own: a SQLite trigger
// in the test database aborts one statement (`RAISE(ABORT)`), so the Worker meets a real D1 error
// from a real query, at the point where a request writes. Each call must fail cleanly in its
// surface's envelope, leave no partial rows, and work when repeated once D1 is healthy.

const triggers: string[] = [];
const abortOn = async (name: string, table: string, when: string) => {
  triggers.push(name);
  await env.DB.prepare(
    `CREATE TRIGGER ${name} BEFORE INSERT ON ${table} WHEN ${when} BEGIN SELECT RAISE(ABORT, 'injected D1 failure'); END`,
  ).run();
};

afterEach(async () => {
  for (const name of triggers.splice(0)) await env.DB.prepare(`DROP TRIGGER IF EXISTS ${name}`).run();
});

const appId = async (appkey: string) =>
  (await env.DB.prepare("SELECT id FROM apps WHERE appkey = ?1").bind(appkey).first<{ id: number }>())?.id;
const countOf = async (sql: string, ...binds: unknown[]) =>
  (
    await env.DB.prepare(sql)
      .bind(...binds)
      .first<{ n: number }>()
  )?.n;

describe("D1 errors", () => {
  it("a push whose task cannot be written: 500 / 4000, no task, no rate count; the retry makes one task", async () => {
    const app = await createApp();
    const id = await appId(app.appkey);
    await abortOn("fail_task", "tasks", `NEW.app_id = ${id}`);
    const push = {
      type: "customizedcast",
      alias: "u1",
      payload: { display_type: "message", body: { custom: {} } },
    };
    const failed = await psp(app, "POST", "/psp/push/msg", push);
    expect(failed.status).toBe(500);
    expect(failed.body).toEqual({ ret: "FAIL", data: { error_code: 4000, error_msg: "internal error" } });
    expect(await countOf("SELECT COUNT(*) AS n FROM tasks WHERE app_id = ?1", id)).toBe(0);
    // The rate-limit count and the task are one transaction: the failed push counted nothing.
    expect(await countOf("SELECT COALESCE(SUM(count), 0) AS n FROM push_rate WHERE app_id = ?1", id)).toBe(0);

    await env.DB.prepare("DROP TRIGGER fail_task").run();
    const ok = await psp(app, "POST", "/psp/push/msg", push);
    expect(ok.status).toBe(200);
    expect(await countOf("SELECT COUNT(*) AS n FROM tasks WHERE app_id = ?1", id)).toBe(1);
  });

  it("a member list whose write fails half-way adds nobody; the same call then adds everyone", async () => {
    const app = await createApp();
    const id = await appId(app.appkey);
    expect((await psp(app, "PUT", "/psp/groups/fam", { name: "fam" })).status).toBe(200);
    await abortOn("fail_member", "group_members", "NEW.user_id = 'm3'");
    const add = { add: ["m1", "m2", "m3", "m4"] };
    const failed = await psp(app, "POST", "/psp/groups/fam/members", add);
    expect(failed.status).toBe(500);
    expect(failed.body.ret).toBe("FAIL");
    expect(await countOf("SELECT COUNT(*) AS n FROM group_members WHERE app_id = ?1", id)).toBe(0);

    await env.DB.prepare("DROP TRIGGER fail_member").run();
    const ok = await psp(app, "POST", "/psp/groups/fam/members", add);
    expect(ok.body.data).toMatchObject({ members: 4 });
  });

  it("a sign-up whose account cannot be written: 服务器内部错误, the SMS code is not used up", async () => {
    const phone = newPhone();
    const code = await requestCode(phone);
    await abortOn("fail_signup", "technicians", `NEW.phone = '${phone}'`);
    const form = { phone, password: "secret123", verifySms: code };
    const failed = await call(`${T}/register`, { json: form });
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({ status: false, message: "服务器内部错误" });
    expect(cookieToken(failed)).toBeUndefined();
    expect(await countOf("SELECT COUNT(*) AS n FROM technicians WHERE phone = ?1", phone)).toBe(0);
    // The code and the account are one transaction: the code is still there, unspent.
    expect(await smsRow(phone)).toMatchObject({ code });

    await env.DB.prepare("DROP TRIGGER fail_signup").run();
    const ok = await call(`${T}/register`, { json: form });
    expect(((await ok.json()) as { status: boolean }).status).toBe(true);
    expect(await countOf("SELECT COUNT(*) AS n FROM technicians WHERE phone = ?1", phone)).toBe(1);
  });
});
