import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import { newPhone, registerTechnician, T } from "../helpers/technicians";

// Per-client-IP limits (Workers Rate Limiting bindings in wrangler.toml): 10 SMS requests and 30
// logins per IP per minute. CF-Connecting-IP is what Cloudflare's edge sets; each test uses its
// own documentation-range address so the counts do not mix.
const fromIp = (ip: string) => ({ "cf-connecting-ip": ip });
const TOO_FREQUENT = "请求过于频繁,请稍后再试";

/** Local limits count in fixed one-minute windows: start a test well inside one, not at its edge. */
const insideOneWindow = async () => {
  const into = Date.now() % 60_000;
  if (into > 45_000) await new Promise((r) => setTimeout(r, 60_000 - into + 100));
};

describe("per-IP limits on the calls anyone can make", () => {
  it("verifySms: the 11th request within a minute from one IP is refused, for any phone", {
    timeout: 30_000,
  }, async () => {
    await insideOneWindow();
    const answers = [];
    for (let i = 0; i < 11; i++) {
      answers.push(
        (await callJson(`${T}/verifySms`, { json: { phone: newPhone() }, headers: fromIp("203.0.113.11") }))
          .body,
      );
    }
    expect(answers.slice(0, 10).every((a) => a.result === true)).toBe(true);
    expect(answers[10]).toEqual({
      result: false,
      message: TOO_FREQUENT,
      error: "TOO_FREQUENT_REQUEST",
      data: null,
    });
    // Another IP, and a request without a public IP (local development), still pass.
    const other = await callJson(`${T}/verifySms`, {
      json: { phone: newPhone() },
      headers: fromIp("203.0.113.12"),
    });
    expect(other.body.result).toBe(true);
    const local = await callJson(`${T}/verifySms`, {
      json: { phone: newPhone() },
      headers: fromIp("127.0.0.1"),
    });
    expect(local.body.result).toBe(true);
  });

  it("login: after 30 attempts within a minute from one IP, even the right password is refused", {
    timeout: 30_000,
  }, async () => {
    const tech = await registerTechnician();
    await insideOneWindow();
    for (let i = 0; i < 30; i++) {
      const { body } = await callJson(`${T}/login`, {
        json: { phone: newPhone(), password: "guess-1234" },
        headers: fromIp("203.0.113.21"),
      });
      expect(body.message).not.toBe(TOO_FREQUENT);
    }
    const blocked = await callJson(`${T}/login`, {
      json: { phone: tech.phone, password: tech.password },
      headers: fromIp("203.0.113.21"),
    });
    expect(blocked.body).toEqual({ status: false, message: TOO_FREQUENT });
    const elsewhere = await callJson(`${T}/login`, {
      json: { phone: tech.phone, password: tech.password },
      headers: fromIp("203.0.113.22"),
    });
    expect(elsewhere.body.status).toBe(true);
  });
});
