import { describe, expect, it } from "vitest";
import { call, callJson } from "../helpers/api";
import { ACCOUNT_FIELDS } from "../helpers/seed-fields";
import {
  cookieToken,
  loginTechnician,
  newPhone,
  registerTechnician,
  requestCode,
  setTechColumns,
  smsRow,
  T,
  techRowByPhone,
} from "../helpers/technicians";

type Account = Record<string, unknown> & { id: number };
const register = (body: Record<string, string>) => call(`${T}/register`, { json: body });

describe("POST register", () => {
  it("creates the account, answers seed 001's object and opens a session", async () => {
    const phone = newPhone();
    const verifySms = await requestCode(phone);
    const before = Date.now();
    const res = await register({ phone, password: "secret123", verifySms });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.toLowerCase()).not.toContain("password");
    expect(text).not.toContain("secret123");
    const body = JSON.parse(text) as { status: boolean; message: Account };
    expect(body.status).toBe(true);
    expect(Object.keys(body)).toStrictEqual(["status", "message"]);
    expect(Object.keys(body.message)).toStrictEqual(ACCOUNT_FIELDS);
    const row = await techRowByPhone(phone);
    expect(body.message).toStrictEqual({
      ...Object.fromEntries(ACCOUNT_FIELDS.map((f) => [f, null])),
      id: row?.id,
      phone,
      createAt: row?.create_at,
      filmLevel: 0,
      filmWorkingSeniority: 0,
      carCoverLevel: 0,
      carCoverWorkingSeniority: 0,
      colorModifyLevel: 0,
      colorModifyWorkingSeniority: 0,
      beautyLevel: 0,
      beautyWorkingSeniority: 0,
      status: "NEWLY_CREATED",
    });
    expect(body.message.createAt).toBeGreaterThanOrEqual(before - 1000);
    expect(row?.status).toBe("NEWLY_CREATED");
    expect(await smsRow(phone)).toBeNull();

    // Password stored hashed (PBKDF2-SHA256, 100000 iterations), never in clear.
    expect(row?.password_hash).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(String(row?.password_hash)).not.toContain("secret123");

    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^autoken=[^;]+;/);
    expect(cookie).toMatch(/;\s*HttpOnly/i);
    expect(cookie).toMatch(/;\s*SameSite=Lax/i);
    expect(cookie).toMatch(/;\s*Path=\//i);
    expect(cookie).not.toMatch(/;\s*Secure/i);
    const me = await callJson(`${T}/me`, { token: cookieToken(res) });
    expect(me.body).toMatchObject({ status: true, message: { id: row?.id, phone } });
  });

  it("sets a Secure cookie when the request came over https", async () => {
    const phone = newPhone();
    const verifySms = await requestCode(phone);
    const res = await call(`${T}/register`, {
      json: { phone, password: "secret123", verifySms },
      origin: "https://push.example.com",
    });
    expect(((await res.json()) as { status: boolean }).status).toBe(true);
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/;\s*Secure/i);
    expect(cookie).toMatch(/;\s*HttpOnly/i);
    expect(cookie).toMatch(/;\s*SameSite=Lax/i);
  });

  it("accepts a form-urlencoded body", async () => {
    const phone = newPhone();
    const verifySms = await requestCode(phone);
    const res = await call(`${T}/register`, { form: { phone, password: "secret123", verifySms } });
    const body = (await res.json()) as { status: boolean; message: Account };
    expect(body).toMatchObject({ status: true, message: { phone, status: "NEWLY_CREATED" } });
    expect(body.message.id).toBe((await techRowByPhone(phone))?.id);
    expect(cookieToken(res)).toBeTruthy();
  });

  it("answers 验证码错误 for a wrong code and creates nothing", async () => {
    const phone = newPhone();
    const code = await requestCode(phone);
    const wrong = code === "000000" ? "000001" : "000000";
    const res = await register({ phone, password: "secret123", verifySms: wrong });
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(await res.json()).toStrictEqual({ status: false, message: "验证码错误" });
    expect(await techRowByPhone(phone)).toBeNull();
  });

  it("answers 验证码错误 without any code requested", async () => {
    const phone = newPhone();
    const { body } = await callJson(`${T}/register`, { json: { phone, password: "secret123" } });
    expect(body).toStrictEqual({ status: false, message: "验证码错误" });
    expect(await techRowByPhone(phone)).toBeNull();
  });

  it("answers every problem for an empty body (form or JSON), not a server error", async () => {
    for (const init of [{ json: {} }, { form: {} }, { body: "not json" }]) {
      const { status, body } = await callJson(`${T}/register`, init);
      expect(status).toBe(200);
      expect(body).toStrictEqual({ status: false, message: "手机号格式错误,密码至少6位,验证码错误" });
    }
  });

  it("answers 手机号格式错误,验证码错误 for a malformed phone", async () => {
    const { body } = await callJson(`${T}/register`, {
      json: { phone: "12345", password: "secret123", verifySms: "123456" },
    });
    expect(body).toStrictEqual({ status: false, message: "手机号格式错误,验证码错误" });
    expect(await techRowByPhone("12345")).toBeNull();
  });

  it("answers 密码至少6位 with a right code, and the code is not consumed", async () => {
    const phone = newPhone();
    const verifySms = await requestCode(phone);
    const { body } = await callJson(`${T}/register`, { json: { phone, password: "12345", verifySms } });
    expect(body).toStrictEqual({ status: false, message: "密码至少6位" });
    expect(await techRowByPhone(phone)).toBeNull();
    expect(await smsRow(phone)).toMatchObject({ code: verifySms, tries: 0 });
    // The same code still registers the phone.
    const ok = await callJson(`${T}/register`, { json: { phone, password: "123456", verifySms } });
    expect(ok.body).toMatchObject({ status: true, message: { phone } });
  });

  it("answers 手机号已被注册,验证码错误 for a registered phone and changes nothing", async () => {
    const t = await registerTechnician();
    const { body } = await callJson(`${T}/register`, {
      json: { phone: t.phone, password: "other-pass", verifySms: "123456" },
    });
    expect(body).toStrictEqual({ status: false, message: "手机号已被注册,验证码错误" });
    const row = await techRowByPhone(t.phone);
    expect(row?.id).toBe(t.id);
    expect((await loginTechnician(t.phone, t.password)).body.status).toBe(true);
  });

  it("answers 手机号已被注册 with a right code, and the code is not consumed", async () => {
    const t = await registerTechnician();
    expect(await smsRow(t.phone)).toBeNull(); // consumed by the registration: a new one may be sent at once
    const verifySms = await requestCode(t.phone);
    const { body } = await callJson(`${T}/register`, {
      json: { phone: t.phone, password: "other-pass", verifySms },
    });
    expect(body).toStrictEqual({ status: false, message: "手机号已被注册" });
    expect(await smsRow(t.phone)).toMatchObject({ code: verifySms, tries: 0 });
  });
});

describe("POST login", () => {
  it("logs in, records lastLoginAt / lastLoginIp and opens a new session", async () => {
    const t = await registerTechnician();
    const before = Date.now();
    const res = await call(`${T}/login`, {
      form: { phone: t.phone, password: t.password },
      headers: { "cf-connecting-ip": "203.0.113.7" },
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.toLowerCase()).not.toContain("password");
    const body = JSON.parse(text) as { status: boolean; message: Account };
    expect(body.status).toBe(true);
    expect(Object.keys(body.message)).toStrictEqual(ACCOUNT_FIELDS);
    const row = await techRowByPhone(t.phone);
    expect(row?.last_login_at).toBeGreaterThanOrEqual(before);
    expect(body.message).toMatchObject({
      id: t.id,
      phone: t.phone,
      lastLoginAt: row?.last_login_at,
      lastLoginIp: "203.0.113.7",
      status: "NEWLY_CREATED",
    });
    expect(row?.last_login_ip).toBe("203.0.113.7");
    const token = cookieToken(res);
    expect(token).toBeTruthy();
    expect(token).not.toBe(t.token);
    expect((await callJson(`${T}/me`, { token })).status).toBe(200);
    expect((await callJson(`${T}/me`, { token: t.token })).status).toBe(200);
  });

  it("answers a missing phone or password with its own message", async () => {
    const t = await registerTechnician();
    expect((await callJson(`${T}/login`, { json: { password: "secret123" } })).body).toStrictEqual({
      status: false,
      message: "手机号格式错误",
    });
    expect((await callJson(`${T}/login`, { form: { phone: t.phone } })).body).toStrictEqual({
      status: false,
      message: "密码错误",
    });
  });

  it("answers 手机号未注册 for an unknown phone", async () => {
    const res = await call(`${T}/login`, { json: { phone: newPhone(), password: "secret123" } });
    expect(await res.json()).toStrictEqual({ status: false, message: "手机号未注册" });
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("answers 密码错误 for a wrong password and counts the failure", async () => {
    const t = await registerTechnician();
    const res = await call(`${T}/login`, { json: { phone: t.phone, password: "wrong-pass" } });
    expect(await res.json()).toStrictEqual({ status: false, message: "密码错误" });
    expect(res.headers.get("set-cookie")).toBeNull();
    const row = await techRowByPhone(t.phone);
    expect(row?.failed_logins).toBe(1);
    expect(row?.last_login_at).toBeNull();
  });

  it("locks the phone for 15 minutes after 5 wrong passwords, even for the right one", async () => {
    const t = await registerTechnician();
    for (let i = 0; i < 5; i++) {
      expect((await loginTechnician(t.phone, "wrong-pass")).body).toStrictEqual({
        status: false,
        message: "密码错误",
      });
    }
    const locked = await techRowByPhone(t.phone);
    expect(locked?.locked_until).toBeGreaterThan(Date.now() + 14 * 60 * 1000);
    expect(locked?.locked_until).toBeLessThanOrEqual(Date.now() + 15 * 60 * 1000);
    const right = await loginTechnician(t.phone, t.password);
    expect(right.body).toStrictEqual({ status: false, message: "登录失败次数过多,请15分钟后再试" });
    expect(right.token).toBeUndefined();

    // Once the 15 minutes have passed, the right password works again.
    await setTechColumns(t.id, { locked_until: Date.now() - 1 });
    expect((await loginTechnician(t.phone, t.password)).body).toMatchObject({ status: true });
    expect((await techRowByPhone(t.phone))?.locked_until).toBeNull();
  });

  it("4 wrong passwords then the right one resets the count", async () => {
    const t = await registerTechnician();
    for (let i = 0; i < 4; i++) await loginTechnician(t.phone, "wrong-pass");
    expect((await techRowByPhone(t.phone))?.failed_logins).toBe(4);
    expect((await loginTechnician(t.phone, t.password)).body).toMatchObject({ status: true });
    expect((await techRowByPhone(t.phone))?.failed_logins).toBe(0);
  });

  it("answers 帐户已被禁用 to a banned account, and its sessions stop working", async () => {
    const t = await registerTechnician();
    await setTechColumns(t.id, { banned: 1 });
    const res = await loginTechnician(t.phone, t.password);
    expect(res.body).toStrictEqual({ status: false, message: "帐户已被禁用" });
    expect(res.token).toBeUndefined();
    const me = await callJson(`${T}/me`, { token: t.token });
    expect(me.status).toBe(403);
    expect(me.body).toStrictEqual({ status: false, message: "帐户已被禁用" });
  });
});
