import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import {
  ageSmsCode,
  failNextSms,
  lastSms,
  lastSmsCode,
  newPhone,
  requestCode,
  smsRow,
  T,
  techRowByPhone,
} from "../helpers/technicians";

const OK = { result: true, message: "", error: "", data: null };
const TOO_FREQUENT = {
  result: false,
  message: "请求过于频繁,请稍后再试",
  error: "TOO_FREQUENT_REQUEST",
  data: null,
};

const verifySms = (phone: unknown) => callJson(`${T}/verifySms`, { json: { phone } });
const register = (phone: string, verifySms: string, password = "secret123") =>
  callJson(`${T}/register`, { json: { phone, password, verifySms } });
/** A code that is certainly not `code`. */
const wrongCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, "0");

describe("POST verifySms", () => {
  it("sends a 6-digit code to the provider and stores it for 5 minutes", async () => {
    const phone = newPhone();
    const before = Date.now();
    const { status, body } = await verifySms(phone);
    expect(status).toBe(200);
    expect(body).toStrictEqual(OK);

    const sms = await lastSms(phone);
    expect(sms.code).toMatch(/^\d{6}$/);
    expect(sms.count).toBe(1);
    const row = await smsRow(phone);
    expect(row).not.toBeNull();
    expect(row?.code).toBe(sms.code);
    expect(row?.tries).toBe(0);
    expect(row?.sent_at).toBeGreaterThanOrEqual(before);
    expect(row?.sent_at).toBeLessThanOrEqual(Date.now());
    expect((row?.expires_at ?? 0) - (row?.sent_at ?? 0)).toBe(5 * 60 * 1000);
  });

  it("accepts a form-urlencoded body", async () => {
    const phone = newPhone();
    const { body } = await callJson(`${T}/verifySms`, { form: { phone } });
    expect(body).toStrictEqual(OK);
    expect((await smsRow(phone))?.code).toBe(await lastSmsCode(phone));
  });

  it.each([
    ["too short", "1391234567"],
    ["not a mobile prefix", "12912345678"],
    ["letters", "1391234567a"],
    ["missing", undefined],
  ])("refuses an invalid phone (%s)", async (_label, phone) => {
    const { status, body } = await verifySms(phone);
    expect(status).toBe(200);
    expect(body).toStrictEqual({
      result: false,
      message: "手机号格式错误",
      error: "INVALID_PARAMETER",
      data: null,
    });
    if (phone) {
      expect(await smsRow(phone)).toBeNull();
      expect(await lastSmsCode(phone)).toBeUndefined();
    }
  });

  it("refuses a second request within 60 s and keeps the first code", async () => {
    const phone = newPhone();
    const first = await requestCode(phone);
    const { status, body } = await verifySms(phone);
    expect(status).toBe(200);
    expect(body).toStrictEqual(TOO_FREQUENT);
    expect((await smsRow(phone))?.code).toBe(first);
    expect((await lastSms(phone)).count).toBe(1);

    // 59 s later it is still too early.
    await ageSmsCode(phone, 59_000);
    expect((await verifySms(phone)).body).toStrictEqual(TOO_FREQUENT);
    expect((await lastSms(phone)).count).toBe(1);
  });

  it("allows a new code once 60 s have passed; it replaces the old one and resets the tries", async () => {
    const phone = newPhone();
    const first = await requestCode(phone);
    expect((await register(phone, wrongCode(first))).body).toStrictEqual({
      status: false,
      message: "验证码错误",
    });
    expect((await smsRow(phone))?.tries).toBe(1);

    await ageSmsCode(phone, 60_000);
    const { body } = await verifySms(phone);
    expect(body).toStrictEqual(OK);
    const sms = await lastSms(phone);
    expect(sms.count).toBe(2);
    const row = await smsRow(phone);
    expect(row?.code).toBe(sms.code);
    expect(row?.tries).toBe(0);
    expect(row?.sent_at).toBeGreaterThan(Date.now() - 5_000);

    // The new code works; the old one (if different) does not.
    if (sms.code !== first) {
      expect((await register(phone, first)).body).toStrictEqual({ status: false, message: "验证码错误" });
    }
    expect((await register(phone, sms.code ?? "")).body).toMatchObject({ status: true });
  });

  it("answers SMS_SEND_FAILED when the provider fails, leaves no code, and allows a retry at once", async () => {
    const phone = newPhone();
    await failNextSms(phone);
    const { status, body } = await verifySms(phone);
    expect(status).toBe(200);
    expect(body).toStrictEqual({
      result: false,
      message: "短信发送失败,请稍后再试",
      error: "SMS_SEND_FAILED",
      data: null,
    });
    expect(await smsRow(phone)).toBeNull();
    expect(await lastSmsCode(phone)).toBeUndefined();

    // No 60 s wait: the failed code never left.
    expect((await verifySms(phone)).body).toStrictEqual(OK);
    const code = await lastSmsCode(phone);
    expect(code).toMatch(/^\d{6}$/);
    expect((await smsRow(phone))?.code).toBe(code);
  });
});

describe("using a code", () => {
  it("accepts the right code after 4 wrong tries and consumes it", async () => {
    const phone = newPhone();
    const code = await requestCode(phone);
    for (let i = 1; i <= 4; i++) {
      expect((await register(phone, wrongCode(code))).body).toStrictEqual({
        status: false,
        message: "验证码错误",
      });
      expect((await smsRow(phone))?.tries).toBe(i);
    }
    expect((await register(phone, code)).body).toMatchObject({ status: true, message: { phone } });
    expect(await smsRow(phone)).toBeNull();
  });

  it("kills the code after 5 wrong tries: even the right code is refused", async () => {
    const phone = newPhone();
    const code = await requestCode(phone);
    for (let i = 0; i < 5; i++) {
      expect((await register(phone, wrongCode(code))).body).toStrictEqual({
        status: false,
        message: "验证码错误",
      });
    }
    expect((await smsRow(phone))?.tries).toBe(5);
    expect((await register(phone, code)).body).toStrictEqual({ status: false, message: "验证码错误" });
    expect(await techRowByPhone(phone)).toBeNull();
    // Further tries do not count past the limit, and the dead code is not consumed.
    expect((await smsRow(phone))?.tries).toBe(5);
  });

  it("refuses a code after 5 minutes", async () => {
    const phone = newPhone();
    const code = await requestCode(phone);
    await ageSmsCode(phone, 5 * 60 * 1000);
    expect((await register(phone, code)).body).toStrictEqual({ status: false, message: "验证码错误" });
    expect(await techRowByPhone(phone)).toBeNull();
    expect((await smsRow(phone))?.code).toBe(code);
  });

  it("still accepts a code just under 5 minutes old", async () => {
    const phone = newPhone();
    const code = await requestCode(phone);
    await ageSmsCode(phone, 5 * 60 * 1000 - 10_000);
    expect((await register(phone, code)).body).toMatchObject({ status: true, message: { phone } });
    expect(await smsRow(phone)).toBeNull();
  });

  it("refuses a code sent to another phone", async () => {
    const phone = newPhone();
    const other = newPhone();
    const code = await requestCode(other);
    expect((await register(phone, code)).body).toStrictEqual({ status: false, message: "验证码错误" });
    expect(await techRowByPhone(phone)).toBeNull();
    expect((await smsRow(other))?.tries).toBe(0);
  });
});
