import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { admin, call, callJson } from "../helpers/api";
import { ecKeyPair } from "../helpers/keys";
import { createApp, pspLegacy, pspSigned } from "../helpers/psp";
import {
  failNextSms,
  lastSmsCode,
  loginTechnician,
  newPhone,
  registerTechnician,
  T,
} from "../helpers/technicians";

// Every console line the Worker, its Durable Objects and its queue consumer write while this
// file runs (they share the test isolate), checked against every secret the flows handled.
const lines: string[] = [];
const secrets = new Set<string>([env.ADMIN_TOKEN, env.JWT_SECRET, env.CREDENTIALS_KEY]);
const methods = ["log", "info", "warn", "error", "debug"] as const;

beforeAll(() => {
  for (const m of methods) {
    const original = console[m].bind(console);
    vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
      lines.push(
        args
          .map((a) =>
            a instanceof Error
              ? `${a.name}: ${a.message} ${a.stack}`
              : typeof a === "string"
                ? a
                : JSON.stringify(a),
          )
          .join(" "),
      );
      original(...args);
    });
  }
});
afterAll(() => vi.restoreAllMocks());

describe("no secret, password or token in any log line", () => {
  it("through sign-up, logins, refused credentials, provider keys, pushes and failures", async () => {
    // Technician: SMS (one send failing, which is logged), register, wrong and right logins, new password.
    const phone = newPhone();
    await failNextSms(phone);
    expect((await callJson(`${T}/verifySms`, { json: { phone } })).body.result).toBe(false);
    const tech = await registerTechnician("pa55-word-secret");
    secrets.add(tech.password).add(tech.token);
    const code = await lastSmsCode(tech.phone);
    if (code) secrets.add(code);
    expect((await loginTechnician(tech.phone, "wrong-password-secret")).body.status).toBe(false);
    secrets.add("wrong-password-secret");
    const login = await loginTechnician(tech.phone, tech.password);
    if (login.token) secrets.add(login.token);
    const changed = await callJson(`${T}/changePassword`, {
      method: "PUT",
      token: login.token,
      json: { oldPassword: tech.password, newPassword: "n3w-pa55-secret" },
    });
    expect(changed.body.status).toBe(true);
    secrets.add("n3w-pa55-secret");

    // Partner: good and refused signatures, a replay, the legacy token, an MQTT token.
    const app = await createApp();
    secrets.add(app.app_master_secret);
    expect((await pspSigned(app, "GET", "/psp/app")).status).toBe(200);
    expect((await pspSigned(app, "GET", "/psp/app", "", { secret: "f".repeat(32) })).status).toBe(401);
    expect((await pspLegacy(app, "GET", "/psp/app", "", { secret: "0".repeat(32) })).status).toBe(401);
    const minted = (await (await pspSigned(app, "POST", "/psp/mqtt/token", '{"sub":"u1"}')).json()) as {
      data: { token: string };
    };
    secrets.add(minted.data.token);
    expect(
      (await call(`/mqtt?token=${minted.data.token}x`, { headers: { upgrade: "websocket" } })).status,
    ).toBe(401);

    // Admin: a wrong token, a provider key stored, then a push that fails at APNs (key unknown there).
    secrets.add("not-the-admin-token");
    expect(
      (await call("/api/admin/apps", { headers: { authorization: "Bearer not-the-admin-token" } })).status,
    ).toBe(401);
    const { privatePem } = await ecKeyPair();
    for (const line of privatePem.split("\n").filter((l) => l.length > 40)) secrets.add(line);
    const creds = await admin(`/apps/${app.appkey}/credentials/apns`, {
      method: "PUT",
      json: {
        team_id: "ABCDE12345",
        key_id: "KEY1234567",
        private_key: privatePem,
        topic: "t",
        environment: "sandbox",
      },
    });
    expect(creds.status).toBe(200);
    await pspSigned(
      app,
      "POST",
      "/psp/devices",
      '{"device_token":"a1b2c3d4","platform":"ios","provider":"apns"}',
    );
    const push = (await (
      await pspSigned(
        app,
        "POST",
        "/psp/push/msg",
        '{"type":"unicast","device_tokens":"a1b2c3d4","payload":{"display_type":"notification","body":{"title":"t"}}}',
      )
    ).json()) as { data: { task_id: string } };
    for (let i = 0; i < 100; i++) {
      const status = (await (
        await pspSigned(app, "GET", `/psp/push/status?task_id=${push.data.task_id}`)
      ).json()) as { data: { status: string } };
      if (["done", "failed"].includes(status.data.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    // The capture works (the failed SMS send was logged) and holds no secret.
    expect(lines.some((l) => l.includes("sms: sending to"))).toBe(true);
    // Every request logged its JSON line (the refused upgrade, signed and legacy psp calls, the
    // refused admin token among them): they are part of what is checked below.
    const requests = lines.flatMap((l) =>
      l.startsWith('{"level":"info","msg":"request"') ? [JSON.parse(l)] : [],
    );
    for (const path of ["/mqtt", "/psp/app", "/psp/push/msg", "/api/admin/apps", `${T}/login`]) {
      expect(
        requests.some((r) => r.path === path && typeof r.request_id === "string"),
        path,
      ).toBe(true);
    }
    expect(lines.filter((l) => /[?&](sign|token)=/.test(l))).toEqual([]);
    const leaks = [...secrets]
      .filter((s) => s.length >= 6)
      .flatMap((s) => lines.filter((l) => l.includes(s)).map((l) => [s.slice(0, 4), l]));
    expect(leaks).toEqual([]);
  });
});
