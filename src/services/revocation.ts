import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { type AppRow, type TechnicianRow, technicianSessions, technicians } from "../db/schema";
import { appRegistry, REGISTRY_SHARDS } from "../hubs/app-registry";
import { userHub } from "../hubs/common";
import type { RevokeScope } from "../hubs/user-revoke";
import { TECHNICIAN_APP } from "./technician-push";

/**
 * Operator actions that end rights at once (docs/mqtt.md "Revocation"): D1 first (the truth,
 * checked at every upgrade and login), then the identity's UserHub, which closes the
 * connections already open. A hub that could not follow makes the call fail (500): the change
 * is stored, and calling again ends the connections.
 */

const endConnections = (env: Env, app: string, id: string, scope: RevokeScope) =>
  userHub(env, { app, id }).revoke({ app, id }, scope);

/**
 * Revokes every MQTT token of a user issued so far (the token generation goes up) and closes
 * its connections. On the technician app the login tokens are its MQTT tokens: its sessions end.
 */
export const revokeUserTokens = async (db: Db, env: Env, app: AppRow, userId: string) => {
  if (app.name === TECHNICIAN_APP && /^\d{1,15}$/.test(userId)) {
    await db.delete(technicianSessions).where(eq(technicianSessions.technicianId, Number(userId)));
  }
  return endConnections(env, app.name, userId, { tokens: true });
};

/** Closes a user's connections (or one client id's) with DISCONNECT 0x98; tokens stay valid. */
export const kickUser = (env: Env, app: AppRow, userId: string, clientId?: string) =>
  endConnections(env, app.name, userId, { kick: true, ...(clientId ? { clientId } : {}) });

/** A technician's sessions ended (logout, password change or reset): their connections close. */
export const endTechnicianSessions = (
  env: Env,
  technicianId: number,
  scope: { sid?: string; exceptSid?: string },
) => endConnections(env, TECHNICIAN_APP, String(technicianId), scope);

/**
 * Bans or unbans a technician. A ban ends every session (its tokens stop working, and stay
 * dead after an unban) and closes its MQTT connections; a banned technician cannot log in and
 * gets no pushes. Null for an unknown id.
 */
export const setBanned = async (
  db: Db,
  env: Env,
  technicianId: number,
  banned: boolean,
): Promise<TechnicianRow | null> => {
  const [row] = await db
    .update(technicians)
    .set({ banned })
    .where(eq(technicians.id, technicianId))
    .returning();
  if (!row) return null;
  if (banned) {
    await db.delete(technicianSessions).where(eq(technicianSessions.technicianId, technicianId));
    await endConnections(env, TECHNICIAN_APP, String(technicianId), { tokens: true });
  }
  return row;
};

/**
 * The app was enabled or disabled in D1: every registry shard follows (disabled: joins are
 * refused and every open connection of the app is closed). Answers how many were closed.
 */
export const followAppEnabled = async (env: Env, app: string, enabled: boolean): Promise<number> => {
  const shards = Array.from({ length: REGISTRY_SHARDS }, (_, i) => appRegistry(env, app, i));
  const closed = await Promise.all(shards.map((s) => s.setEnabled(app, enabled)));
  return closed.reduce((a, b) => a + b, 0);
};
