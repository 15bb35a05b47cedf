import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { type AppRow, apps } from "../db/schema";
import { adminFail } from "../errors";
import { decryptSecret, encryptSecret, randomHex } from "../lib/crypto";
import type { KeepaliveSettings } from "../mqtt/session/keepalive";

/** An app as the admin and partner APIs show it: never its secret. */
export const appView = (app: AppRow) => ({
  name: app.name,
  appkey: app.appkey,
  enabled: app.enabled,
  legacy_token: app.legacyToken,
  ios_payload_limit: app.iosPayloadLimit,
  android_payload_limit: app.androidPayloadLimit,
  push_rate_limit: app.pushRateLimit,
  mqtt_keepalive: app.mqttKeepalive ?? null,
  embed_msg_id: app.embedMsgId,
  callback_url: app.callbackUrl,
  created_at: new Date(app.createdAt).toISOString(),
});

/** Umeng-shaped credentials: a 24-hex appkey and a 32-hex (128-bit) master secret. */
const newAppkey = () => randomHex(12);
const newMasterSecret = () => randomHex(16);

export const findAppByKey = async (db: Db, appkey: string): Promise<AppRow | undefined> =>
  db.query.apps.findFirst({ where: eq(apps.appkey, appkey) });

export const findAppByName = async (db: Db, name: string): Promise<AppRow | undefined> =>
  db.query.apps.findFirst({ where: eq(apps.name, name) });

/**
 * How long a Worker isolate trusts an app row it read, on the two hot paths:
 * - `GET /mqtt` upgrades (APP_CACHE_MS): a disabled app is refused by the AppRegistry's join in
 *   the UserHub whatever the cache says; other settings (the MQTT keepalive) reach new
 *   connections within this time.
 * - `/psp/*` calls (PSP_APP_CACHE_MS): a disabled app, a rotated master secret or a changed
 *   setting takes effect within this time in other isolates.
 * An app changed through this isolate is forgotten at once.
 */
export const APP_CACHE_MS = 30_000;
export const PSP_APP_CACHE_MS = 5_000;
type Cached = { app: AppRow; at: number };
const appCache = new Map<string, Cached>();

const cached = async (
  key: string,
  maxAgeMs: number,
  read: () => Promise<AppRow | undefined>,
): Promise<AppRow | undefined> => {
  const now = Date.now();
  const hit = appCache.get(key);
  if (hit && now - hit.at < maxAgeMs) return hit.app;
  const app = await read();
  if (!app) return undefined; // an unknown app is asked again (it may be created meanwhile)
  if (appCache.size >= 2_000) appCache.clear();
  appCache.set(`name:${app.name}`, { app, at: now });
  appCache.set(`key:${app.appkey}`, { app, at: now });
  return app;
};

/** `findAppByName`, remembered per isolate for APP_CACHE_MS (the MQTT upgrade's hot path). */
export const cachedAppByName = (db: Db, name: string) =>
  cached(`name:${name}`, APP_CACHE_MS, () => findAppByName(db, name));

/** `findAppByKey`, remembered per isolate for PSP_APP_CACHE_MS (every partner call). */
export const cachedAppByKey = (db: Db, appkey: string) =>
  cached(`key:${appkey}`, PSP_APP_CACHE_MS, () => findAppByKey(db, appkey));

/** Forgets what this isolate remembered of an app (after it was changed). */
export const forgetApp = (app: Pick<AppRow, "name" | "appkey">): void => {
  appCache.delete(`name:${app.name}`);
  appCache.delete(`key:${app.appkey}`);
};

export const requireApp = async (db: Db, appkey: string): Promise<AppRow> => {
  const app = await findAppByKey(db, appkey);
  if (!app) throw adminFail(404, "app_not_found", `no app with appkey ${appkey}`);
  return app;
};

export type AppSettings = {
  enabled?: boolean;
  legacy_token?: boolean;
  ios_payload_limit?: number;
  android_payload_limit?: number;
  push_rate_limit?: number;
  mqtt_keepalive?: KeepaliveSettings | null;
  embed_msg_id?: boolean;
  callback_url?: string | null;
};

export const createApp = async (
  db: Db,
  credentialsKey: string,
  input: { name: string } & AppSettings,
): Promise<{ app: AppRow; secret: string }> => {
  if (await findAppByName(db, input.name)) throw adminFail(409, "app_exists", `app ${input.name} exists`);
  const secret = newMasterSecret();
  const [app] = await db
    .insert(apps)
    .values({
      name: input.name,
      appkey: newAppkey(),
      masterSecretEnc: await encryptSecret(credentialsKey, secret),
      iosPayloadLimit: input.ios_payload_limit,
      androidPayloadLimit: input.android_payload_limit,
    })
    .onConflictDoNothing()
    .returning();
  if (!app) throw adminFail(409, "app_exists", `app ${input.name} exists`);
  return { app, secret };
};

export const updateApp = async (db: Db, appkey: string, input: AppSettings): Promise<AppRow> => {
  const [app] = await db
    .update(apps)
    .set({
      enabled: input.enabled,
      legacyToken: input.legacy_token,
      iosPayloadLimit: input.ios_payload_limit,
      androidPayloadLimit: input.android_payload_limit,
      pushRateLimit: input.push_rate_limit,
      mqttKeepalive: input.mqtt_keepalive,
      embedMsgId: input.embed_msg_id,
      callbackUrl: input.callback_url,
      updatedAt: Date.now(),
    })
    .where(eq(apps.appkey, appkey))
    .returning();
  if (!app) throw adminFail(404, "app_not_found", `no app with appkey ${appkey}`);
  forgetApp(app);
  return app;
};

/** Issues a new master secret (the old one stops working at once); the only time it is shown. */
export const rotateSecret = async (db: Db, credentialsKey: string, appkey: string): Promise<string> => {
  const secret = newMasterSecret();
  const [app] = await db
    .update(apps)
    .set({ masterSecretEnc: await encryptSecret(credentialsKey, secret), updatedAt: Date.now() })
    .where(eq(apps.appkey, appkey))
    .returning({ id: apps.id, name: apps.name, appkey: apps.appkey });
  if (!app) throw adminFail(404, "app_not_found", `no app with appkey ${appkey}`);
  forgetApp(app);
  return secret;
};

/** The app's master secret in clear, or null when none was issued. */
export const masterSecretOf = async (credentialsKey: string, app: AppRow): Promise<string | null> =>
  app.masterSecretEnc ? decryptSecret(credentialsKey, app.masterSecretEnc) : null;
