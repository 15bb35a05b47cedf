import { env } from "cloudflare:workers";
import { decodeJwt, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import {
  loginTechnician,
  newPhone,
  registerTechnician,
  requestCode,
  sessionCount,
  smsRow,
  T,
  techRow,
  techRowByPhone,
} from "../helpers/technicians";

const NOT_LOGGED_IN = { status: false, message: "未登录" };

const me = (token?: string, headers?: Record<string, string>) => callJson(`${T}/me`, { token, headers });
const reset = (body: Record<string, string>) => callJson(`${T}/resetPassword`, { method: "PUT", json: body });
const change = (token: string, body: Record<string, string>) =>
  callJson(`${T}/changePassword`, { method: "PUT", json: body, token });

describe("PUT resetPassword", () => {
  it("sets the new password by SMS code and ends every session of the account", async () => {
    const t = await registerTechnician("old-pass1");
    const second = await loginTechnician(t.phone, t.password);
    expect(await sessionCount(t.id)).toBe(2);
    const hashBefore = (await techRow(t.id))?.password_hash;

    const verifySms = await requestCode(t.phone);
    const { status, body } = await reset({ phone: t.phone, password: "new-pass1", verifySms });
    expect(status).toBe(200);
    expect(body).toStrictEqual({ status: true, message: null });

    const row = await techRow(t.id);
    expect(row?.password_hash).not.toBe(hashBefore);
    expect(row?.password_hash).toMatch(/^pbkdf2-sha256\$100000\$/);
    expect(String(row?.password_hash)).not.toContain("new-pass1");
    expect(await smsRow(t.phone)).toBeNull();
    expect(await sessionCount(t.id)).toBe(0);
    for (const token of [t.token, second.token]) {
      const old = await me(token);
      expect(old.status).toBe(401);
      expect(old.body).toStrictEqual(NOT_LOGGED_IN);
    }
    expect((await loginTechnician(t.phone, "old-pass1")).body).toStrictEqual({
      status: false,
      message: "密码错误",
    });
    const fresh = await loginTechnician(t.phone, "new-pass1");
    expect(fresh.body).toMatchObject({ status: true, message: { id: t.id } });
    expect((await me(fresh.token)).status).toBe(200);
  });

  it("accepts a form body and lifts a login lock", async () => {
    const t = await registerTechnician();
    for (let i = 0; i < 5; i++) await loginTechnician(t.phone, "wrong-pass");
    expect((await techRow(t.id))?.locked_until).not.toBeNull();
    const verifySms = await requestCode(t.phone);
    const { body } = await callJson(`${T}/resetPassword`, {
      method: "PUT",
      form: { phone: t.phone, password: "new-pass2", verifySms },
    });
    expect(body).toStrictEqual({ status: true, message: null });
    expect((await techRow(t.id))?.locked_until).toBeNull();
    expect((await loginTechnician(t.phone, "new-pass2")).body).toMatchObject({ status: true });
  });

  it("answers 验证码错误 for a wrong code and keeps the password and sessions", async () => {
    const t = await registerTechnician();
    const code = await requestCode(t.phone);
    const wrong = code === "000000" ? "000001" : "000000";
    const { body } = await reset({ phone: t.phone, password: "new-pass1", verifySms: wrong });
    expect(body).toStrictEqual({ status: false, message: "验证码错误" });
    expect((await smsRow(t.phone))?.tries).toBe(1);
    expect((await me(t.token)).status).toBe(200);
    expect((await loginTechnician(t.phone, t.password)).body).toMatchObject({ status: true });
  });

  it("answers 密码至少6位 and does not consume the code", async () => {
    const t = await registerTechnician();
    const verifySms = await requestCode(t.phone);
    const { body } = await reset({ phone: t.phone, password: "12345", verifySms });
    expect(body).toStrictEqual({ status: false, message: "密码至少6位" });
    expect(await smsRow(t.phone)).toMatchObject({ code: verifySms, tries: 0 });
    expect((await me(t.token)).status).toBe(200);
    expect((await loginTechnician(t.phone, t.password)).body).toMatchObject({ status: true });
  });

  it("answers 手机号未注册 for an unknown phone with a valid code, creating nothing", async () => {
    const phone = newPhone();
    const verifySms = await requestCode(phone);
    const { body } = await reset({ phone, password: "new-pass1", verifySms });
    expect(body).toStrictEqual({ status: false, message: "手机号未注册" });
    expect(await techRowByPhone(phone)).toBeNull();
    expect(await smsRow(phone)).toMatchObject({ code: verifySms, tries: 0 });
  });
});

describe("PUT changePassword", () => {
  it("changes the password; the calling session stays, other sessions end", async () => {
    const t = await registerTechnician("old-pass1");
    const other = await loginTechnician(t.phone, t.password);
    const { status, body } = await change(t.token, { oldPassword: "old-pass1", newPassword: "new-pass1" });
    expect(status).toBe(200);
    expect(body).toStrictEqual({ status: true, message: "修改密码成功" });

    expect((await me(t.token)).status).toBe(200);
    const gone = await me(other.token);
    expect(gone.status).toBe(401);
    expect(gone.body).toStrictEqual(NOT_LOGGED_IN);
    expect(await sessionCount(t.id)).toBe(1);
    expect(String((await techRow(t.id))?.password_hash)).toMatch(/^pbkdf2-sha256\$100000\$/);
    expect((await loginTechnician(t.phone, "old-pass1")).body).toStrictEqual({
      status: false,
      message: "密码错误",
    });
    expect((await loginTechnician(t.phone, "new-pass1")).body).toMatchObject({ status: true });
  });

  it("answers 原密码错误 and keeps the password", async () => {
    const t = await registerTechnician();
    const other = await loginTechnician(t.phone, t.password);
    const hash = (await techRow(t.id))?.password_hash;
    const { status, body } = await change(t.token, { oldPassword: "not-it", newPassword: "new-pass1" });
    expect(status).toBe(200);
    expect(body).toStrictEqual({ status: false, message: "原密码错误" });
    expect((await techRow(t.id))?.password_hash).toBe(hash);
    expect((await me(other.token)).status).toBe(200);
  });

  it("answers 密码至少6位 for a short new password", async () => {
    const t = await registerTechnician();
    const hash = (await techRow(t.id))?.password_hash;
    const { body } = await change(t.token, { oldPassword: t.password, newPassword: "12345" });
    expect(body).toStrictEqual({ status: false, message: "密码至少6位" });
    expect((await techRow(t.id))?.password_hash).toBe(hash);
  });

  it("joins both problems", async () => {
    const t = await registerTechnician();
    const { body } = await change(t.token, { oldPassword: "not-it", newPassword: "1" });
    expect(body).toStrictEqual({ status: false, message: "原密码错误,密码至少6位" });
  });

  it("needs a login", async () => {
    const { status, body } = await callJson(`${T}/changePassword`, {
      method: "PUT",
      json: { oldPassword: "secret123", newPassword: "new-pass1" },
    });
    expect(status).toBe(401);
    expect(body).toStrictEqual(NOT_LOGGED_IN);
  });
});

describe("session token", () => {
  it("401 without a token", async () => {
    const { status, body } = await me();
    expect(status).toBe(401);
    expect(body).toStrictEqual(NOT_LOGGED_IN);
  });

  it("401 for a token signed with another key", async () => {
    const t = await registerTechnician();
    const { sub, app, typ, sid } = decodeJwt(t.token);
    const forged = await new SignJWT({ app, typ, sid })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer("edge-push")
      .setSubject(String(sub))
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode("not-the-jwt-secret-0123456789abc"));
    const { status, body } = await me(forged);
    expect(status).toBe(401);
    expect(body).toStrictEqual(NOT_LOGGED_IN);
  });

  it("401 for a correctly signed token naming no live session, or another technician", async () => {
    const t = await registerTechnician();
    const u = await registerTechnician();
    const { sid } = decodeJwt(t.token);
    const sign = (sub: number, sessionId: string) =>
      new SignJWT({ app: "technician", typ: "session", sid: sessionId })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setIssuer("edge-push")
        .setSubject(String(sub))
        .setIssuedAt()
        .setExpirationTime("1h")
        .sign(new TextEncoder().encode(env.JWT_SECRET));
    expect((await me(await sign(t.id, String(sid)))).status).toBe(200); // the control
    for (const token of [await sign(t.id, "0".repeat(32)), await sign(u.id, String(sid))]) {
      const res = await me(token);
      expect(res.status).toBe(401);
      expect(res.body).toStrictEqual(NOT_LOGGED_IN);
    }
  });

  it("401 for garbage and for a token in Authorization without Bearer", async () => {
    const t = await registerTechnician();
    for (const res of [await me("not.a.jwt"), await me(undefined, { authorization: t.token })]) {
      expect(res.status).toBe(401);
      expect(res.body).toStrictEqual(NOT_LOGGED_IN);
    }
  });

  it("accepts Authorization: Bearer <token>", async () => {
    const t = await registerTechnician();
    const { status, body } = await me(undefined, { authorization: `Bearer ${t.token}` });
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: true, message: { id: t.id, phone: t.phone } });
  });
});

describe("POST pushId", () => {
  const setPushId = (token: string, pushId?: string) =>
    callJson(`${T}/pushId`, { json: pushId === undefined ? {} : { pushId }, token });

  it("stores the push id", async () => {
    const t = await registerTechnician();
    const { status, body } = await setPushId(t.token, "9a05f0154913d57ef537fdf51ffc14bd");
    expect(status).toBe(200);
    expect(body).toStrictEqual({ status: true, message: null });
    expect((await techRow(t.id))?.push_id).toBe("9a05f0154913d57ef537fdf51ffc14bd");
    expect((await me(t.token)).body).toMatchObject({
      message: { pushId: "9a05f0154913d57ef537fdf51ffc14bd" },
    });
  });

  it.each([undefined, "", "   "])("answers pushId不能为空 for %j", async (pushId) => {
    const t = await registerTechnician();
    await setPushId(t.token, "keep-me");
    const { body } = await setPushId(t.token, pushId);
    expect(body).toStrictEqual({ status: false, message: "pushId不能为空" });
    expect((await techRow(t.id))?.push_id).toBe("keep-me");
  });

  it("answers pushId格式错误 for characters a push id never has", async () => {
    const t = await registerTechnician();
    const { body } = await setPushId(t.token, "a/b c");
    expect(body).toStrictEqual({ status: false, message: "pushId格式错误" });
    expect((await techRow(t.id))?.push_id).toBeNull();
  });

  it("moves a push id from one account to another", async () => {
    const a = await registerTechnician();
    const b = await registerTechnician();
    const pushId = `dev${crypto.randomUUID().replaceAll("-", "")}`;
    await setPushId(a.token, pushId);
    expect((await techRow(a.id))?.push_id).toBe(pushId);
    expect((await setPushId(b.token, pushId)).body).toStrictEqual({ status: true, message: null });
    expect((await techRow(a.id))?.push_id).toBeNull();
    expect((await techRow(b.id))?.push_id).toBe(pushId);
  });

  it("needs a login", async () => {
    const { status, body } = await callJson(`${T}/pushId`, { json: { pushId: "abc" } });
    expect(status).toBe(401);
    expect(body).toStrictEqual(NOT_LOGGED_IN);
  });
});
