import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { adminBody } from "../../http/validate";
import { appView, createApp, requireApp, rotateSecret, updateApp } from "../../services/apps";
import { followAppEnabled } from "../../services/revocation";
import { appSettingsSchema, createAppSchema } from "./schemas";

/** CONTRACT §1: apps. */
export const adminApps = new Hono<AppEnv>()
  .get("/", async (c) => {
    const rows = await c.var.db.query.apps.findMany({ orderBy: (a, { asc }) => asc(a.id) });
    return c.json(rows.map(appView));
  })
  .post("/", async (c) => {
    const input = await adminBody(c, createAppSchema);
    const { app, secret } = await createApp(c.var.db, c.env.CREDENTIALS_KEY, input);
    // The master secret is shown once, here; it is stored encrypted and never shown again.
    return c.json({ name: app.name, appkey: app.appkey, app_master_secret: secret }, 201);
  })
  .get("/:appkey", async (c) => c.json(appView(await requireApp(c.var.db, c.req.param("appkey")))))
  .put("/:appkey", async (c) => {
    const input = await adminBody(c, appSettingsSchema);
    const app = await updateApp(c.var.db, c.req.param("appkey"), input);
    // Disabling ends every open MQTT connection of the app at once (enabling lets them back).
    if (input.enabled !== undefined) await followAppEnabled(c.env, app.name, input.enabled);
    return c.json(appView(app));
  })
  .post("/:appkey/secret", async (c) => {
    const appkey = c.req.param("appkey");
    const secret = await rotateSecret(c.var.db, c.env.CREDENTIALS_KEY, appkey);
    return c.json({ appkey, app_master_secret: secret });
  });
