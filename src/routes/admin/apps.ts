import { z } from "zod";
import { api, route } from "../../http/openapi";
import { adminBody } from "../../http/validate";
import { appView, createApp, requireApp, rotateSecret, updateApp } from "../../services/apps";
import { followAppEnabled } from "../../services/revocation";
import { appSettingsSchema, createAppSchema } from "./schemas";

/** CONTRACT §1: apps. */
export const adminApps = api();
route(
  adminApps,
  "admin",
  { method: "get", path: "/", summary: "Every app (secrets not shown)", ok: z.array(z.looseObject({})) },
  async (c) => {
    const rows = await c.var.db.query.apps.findMany({ orderBy: (a, { asc }) => asc(a.id) });
    return c.json(rows.map(appView));
  },
);
route(
  adminApps,
  "admin",
  {
    method: "post",
    path: "/",
    summary: "Create an app",
    description: "Answers `{name, appkey, app_master_secret}`; the secret is shown once, here.",
    body: createAppSchema,
    status: 201,
    errors: [409],
  },
  async (c) => {
    const input = await adminBody(c, createAppSchema);
    const { app, secret } = await createApp(c.var.db, c.env.CREDENTIALS_KEY, input);
    // The master secret is shown once, here; it is stored encrypted and never shown again.
    return c.json({ name: app.name, appkey: app.appkey, app_master_secret: secret }, 201);
  },
);
route(
  adminApps,
  "admin",
  { method: "get", path: "/{appkey}", summary: "One app (secret not shown)" },
  async (c) => c.json(appView(await requireApp(c.var.db, c.req.param("appkey")))),
);
route(
  adminApps,
  "admin",
  {
    method: "put",
    path: "/{appkey}",
    summary: "Change an app's settings",
    description: "Disabling an app ends every open MQTT connection of it at once.",
    body: appSettingsSchema,
  },
  async (c) => {
    const input = await adminBody(c, appSettingsSchema);
    const app = await updateApp(c.var.db, c.req.param("appkey"), input);
    // Disabling ends every open MQTT connection of the app at once (enabling lets them back).
    if (input.enabled !== undefined) await followAppEnabled(c.env, app.name, input.enabled);
    return c.json(appView(app));
  },
);
route(
  adminApps,
  "admin",
  { method: "post", path: "/{appkey}/secret", summary: "Rotate the app master secret (shown once)" },
  async (c) => {
    const appkey = c.req.param("appkey");
    const secret = await rotateSecret(c.var.db, c.env.CREDENTIALS_KEY, appkey);
    return c.json({ appkey, app_master_secret: secret });
  },
);
