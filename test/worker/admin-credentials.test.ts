import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin } from "../helpers/api";
import { ecKeyPair, rsaKeyPair } from "../helpers/keys";
import { createApp } from "../helpers/psp";

const stored = (appkey: string, provider: string) =>
  env.DB.prepare(
    "SELECT c.data_enc FROM app_credentials c JOIN apps a ON a.id = c.app_id WHERE a.appkey = ? AND c.provider = ?",
  )
    .bind(appkey, provider)
    .first<{ data_enc: string }>();

describe("provider credentials (CONTRACT §1)", () => {
  it("stores APNs token-auth credentials encrypted, never answering them", async () => {
    const app = await createApp();
    const privateKey = (await ecKeyPair()).privatePem;
    const { status, body } = await admin(`/apps/${app.appkey}/credentials/apns`, {
      method: "PUT",
      json: {
        team_id: "ABCDE12345",
        key_id: "KEY1234567",
        private_key: privateKey,
        topic: "com.example.app",
        environment: "sandbox",
      },
    });
    expect(status).toBe(200);
    expect(body).toEqual({ appkey: app.appkey, providers: ["apns"] });
    const row = await stored(app.appkey, "apns");
    expect(row?.data_enc).toBeTruthy();
    expect(row?.data_enc).not.toContain("PRIVATE KEY");
    expect(row?.data_enc).not.toContain("ABCDE12345");
  });

  it("accepts the FCM service account as an object or as its JSON text", async () => {
    const app = await createApp();
    const account = {
      type: "service_account",
      project_id: "demo-project",
      client_email: "push@demo-project.iam.gserviceaccount.com",
      private_key: (await rsaKeyPair()).privatePem,
    };
    for (const service_account of [account, JSON.stringify(account)]) {
      const { status } = await admin(`/apps/${app.appkey}/credentials/fcm`, {
        method: "PUT",
        json: { service_account },
      });
      expect(status).toBe(200);
    }
    const getui = await admin(`/apps/${app.appkey}/credentials/getui`, {
      method: "PUT",
      json: { app_id: "gt-app", app_key: "gt-key", master_secret: "gt-secret" },
    });
    expect(getui.body).toEqual({ appkey: app.appkey, providers: ["fcm", "getui"] });
  });

  it.each([
    [
      "apns",
      { team_id: "short", key_id: "KEY1234567", private_key: "x", topic: "t", environment: "sandbox" },
    ],
    [
      "apns",
      {
        team_id: "ABCDE12345",
        key_id: "KEY1234567",
        private_key: "not a pem",
        topic: "t",
        environment: "prod",
      },
    ],
    ["getui", { app_id: "a" }],
    ["fcm", { service_account: "{not json" }],
    ["fcm", { service_account: { project_id: "p" } }],
  ])("refuses bad %s credentials with 400 and stores nothing", async (provider, json) => {
    const app = await createApp();
    const { status, body } = await admin(`/apps/${app.appkey}/credentials/${provider}`, {
      method: "PUT",
      json,
    });
    expect(status).toBe(400);
    expect(body.error).toBe("invalid_parameter");
    expect(await stored(app.appkey, provider)).toBeNull();
  });

  it.each([
    ["a PEM that is not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"],
    ["an RSA key (APNs signs with ES256)", "rsa"],
  ])("refuses an APNs private_key that is %s, before storing it", async (_, key) => {
    const app = await createApp();
    const private_key = key === "rsa" ? (await rsaKeyPair()).privatePem : key;
    const { status, body } = await admin(`/apps/${app.appkey}/credentials/apns`, {
      method: "PUT",
      json: { team_id: "ABCDE12345", key_id: "KEY1234567", private_key, topic: "t", environment: "sandbox" },
    });
    expect(status).toBe(400);
    expect(body).toEqual({ error: "invalid_parameter", message: expect.stringContaining("private_key") });
    expect(await stored(app.appkey, "apns")).toBeNull();
  });

  it("refuses an FCM service account whose private_key is not an RSA key", async () => {
    const app = await createApp();
    const service_account = {
      project_id: "p",
      client_email: "a@p.iam.gserviceaccount.com",
      private_key: (await ecKeyPair()).privatePem,
    };
    const { status, body } = await admin(`/apps/${app.appkey}/credentials/fcm`, {
      method: "PUT",
      json: { service_account },
    });
    expect(status).toBe(400);
    expect(String(body.message)).toContain("service_account.private_key");
    expect(await stored(app.appkey, "fcm")).toBeNull();
  });

  it("answers 404 for an unknown app", async () => {
    const { status } = await admin("/apps/ffffffffffffffffffffffff/credentials/getui", {
      method: "PUT",
      json: { app_id: "a", app_key: "b", master_secret: "c" },
    });
    expect(status).toBe(404);
  });
});

describe("test devices", () => {
  it("marks a token as a test device, before or after it is registered", async () => {
    const app = await createApp();
    const { status, body } = await admin(`/apps/${app.appkey}/test-devices`, {
      json: { device_token: "abc123" },
    });
    expect(status).toBe(201);
    expect(body).toEqual({ device_token: "abc123", test: true });
    const row = await env.DB.prepare(
      "SELECT t.device_token FROM test_devices t JOIN apps a ON a.id = t.app_id WHERE a.appkey = ?",
    )
      .bind(app.appkey)
      .first();
    expect(row).toEqual({ device_token: "abc123" });
    expect((await admin(`/apps/${app.appkey}/test-devices`, { json: { device_token: "a b" } })).status).toBe(
      400,
    );
  });
});
