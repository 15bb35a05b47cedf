import { z } from "zod";
import { testDevices } from "../../db/schema";
import { api, route } from "../../http/openapi";
import { adminBody } from "../../http/validate";
import { requireApp } from "../../services/apps";
import { assertSigningKey, configuredProviders, putCredentials } from "../../services/credentials";

const pem = (label: string) =>
  z.string().refine((s) => s.includes(`-----BEGIN ${label}-----`), `must be a PEM ${label}`);

const apnsSchema = z.strictObject({
  team_id: z.string().regex(/^[A-Z0-9]{10}$/, "a 10-character Apple team id"),
  key_id: z.string().regex(/^[A-Z0-9]{10}$/, "a 10-character key id"),
  private_key: pem("PRIVATE KEY"),
  topic: z.string().min(1).max(255),
  environment: z.enum(["sandbox", "production"]),
});
const getuiSchema = z.strictObject({
  app_id: z.string().min(1),
  app_key: z.string().min(1),
  master_secret: z.string().min(1),
});
const serviceAccount = z.looseObject({
  project_id: z.string().min(1),
  client_email: z.string().email(),
  private_key: pem("PRIVATE KEY"),
  token_uri: z.string().url().optional(),
});
const fcmSchema = z.strictObject({
  // The Google service-account JSON, as an object or as its text (CONTRACT §1).
  service_account: z.union([
    serviceAccount,
    z
      .string()
      .transform((s, ctx) => {
        try {
          return JSON.parse(s) as unknown;
        } catch {
          ctx.addIssue({ code: "custom", message: "not JSON" });
          return z.NEVER;
        }
      })
      .pipe(serviceAccount),
  ]),
});
const testDeviceSchema = z.strictObject({ device_token: z.string().regex(/^[A-Za-z0-9:_.-]{1,256}$/) });

/** CONTRACT §1: provider credentials (stored encrypted, never shown) and test devices. */
export const adminCredentials = api();
route(
  adminCredentials,
  "admin",
  {
    method: "put",
    path: "/{appkey}/credentials/apns",
    summary: "Store APNs token-auth credentials (the .p8 key, encrypted at rest)",
    body: apnsSchema,
  },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    const creds = await adminBody(c, apnsSchema);
    await assertSigningKey("private_key", creds.private_key, "ES256");
    await putCredentials(c.var.db, c.env.CREDENTIALS_KEY, app.id, "apns", creds);
    return c.json({ appkey: app.appkey, providers: await configuredProviders(c.var.db, app.id) });
  },
);
route(
  adminCredentials,
  "admin",
  {
    method: "put",
    path: "/{appkey}/credentials/getui",
    summary: "Store Getui credentials",
    body: getuiSchema,
  },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    await putCredentials(c.var.db, c.env.CREDENTIALS_KEY, app.id, "getui", await adminBody(c, getuiSchema));
    return c.json({ appkey: app.appkey, providers: await configuredProviders(c.var.db, app.id) });
  },
);
route(
  adminCredentials,
  "admin",
  {
    method: "put",
    path: "/{appkey}/credentials/fcm",
    summary: "Store the FCM service account (an object or its JSON text)",
    body: fcmSchema,
  },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    const { service_account } = await adminBody(c, fcmSchema);
    await assertSigningKey("service_account.private_key", service_account.private_key, "RS256");
    await putCredentials(c.var.db, c.env.CREDENTIALS_KEY, app.id, "fcm", { service_account });
    return c.json({ appkey: app.appkey, providers: await configuredProviders(c.var.db, app.id) });
  },
);
route(
  adminCredentials,
  "admin",
  {
    method: "post",
    path: "/{appkey}/test-devices",
    summary: "Mark a test device (production_mode=false sends only to these)",
    body: testDeviceSchema,
    status: 201,
  },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    const { device_token } = await adminBody(c, testDeviceSchema);
    await c.var.db
      .insert(testDevices)
      .values({ appId: app.id, deviceToken: device_token })
      .onConflictDoNothing();
    return c.json({ device_token, test: true }, 201);
  },
);
