import { and, asc, eq, gt, inArray, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { devices, groupMembers, testDevices } from "../db/schema";
import { chunks, IN_CHUNK } from "../lib/chunks";
import type { Audience } from "./request";

export type DeviceTarget = {
  token: string;
  platform: "ios" | "android";
  provider: "apns" | "getui" | "fcm";
  userId: string | null;
};

/** The group and every sub-group below it (CONTRACT §2: groupcast includes every sub-group). */
export const groupSubtree = async (db: Db, appId: number, groupId: string): Promise<string[]> => {
  const rows = await db.all<{ g: string }>(sql`
    WITH RECURSIVE sub(g, depth) AS (
      SELECT ${groupId}, 0
      UNION SELECT groups.group_id, sub.depth + 1 FROM groups JOIN sub ON groups.parent_id = sub.g
      WHERE groups.app_id = ${appId} AND sub.depth < 64
    ) SELECT DISTINCT g FROM sub`);
  return rows.map((r) => r.g);
};

const audienceFilter = (appId: number, audience: Audience, groups: string[]): SQL | undefined => {
  switch (audience.type) {
    case "unicast":
    case "listcast":
      return inArray(devices.deviceToken, audience.tokens);
    case "customizedcast":
      return inArray(devices.userId, audience.aliases);
    case "groupcast":
      return sql`${devices.userId} IN (SELECT ${groupMembers.userId} FROM ${groupMembers} WHERE ${groupMembers.appId} = ${appId} AND ${inArray(groupMembers.groupId, groups)})`;
    case "broadcast":
      return undefined;
  }
};

/** One page of the audience's devices, in token order after `cursor`. */
export const devicePage = async (
  db: Db,
  appId: number,
  audience: Audience,
  groups: string[],
  productionMode: boolean,
  cursor: string | undefined,
  limit: number,
): Promise<DeviceTarget[]> => {
  // Up to 500 tokens or aliases: one query per chunk, merged in token order.
  const split: Audience[] | null =
    (audience.type === "unicast" || audience.type === "listcast") && audience.tokens.length > IN_CHUNK
      ? chunks(audience.tokens).map((tokens) => ({ type: audience.type, tokens }))
      : audience.type === "customizedcast" && audience.aliases.length > IN_CHUNK
        ? chunks(audience.aliases).map((aliases) => ({ type: "customizedcast", aliases }))
        : null;
  if (split) {
    const parts = await Promise.all(
      split.map((part) => devicePageOf(db, appId, part, groups, productionMode, cursor, limit)),
    );
    return parts
      .flat()
      .sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0))
      .slice(0, limit);
  }
  return devicePageOf(db, appId, audience, groups, productionMode, cursor, limit);
};

const devicePageOf = async (
  db: Db,
  appId: number,
  audience: Audience,
  groups: string[],
  productionMode: boolean,
  cursor: string | undefined,
  limit: number,
): Promise<DeviceTarget[]> => {
  const where = [eq(devices.appId, appId), audienceFilter(appId, audience, groups)];
  if (cursor !== undefined) where.push(gt(devices.deviceToken, cursor));
  if (!productionMode) {
    // Test mode: only the app's test devices (seed 003 production_mode=false).
    where.push(
      sql`${devices.deviceToken} IN (SELECT ${testDevices.deviceToken} FROM ${testDevices} WHERE ${testDevices.appId} = ${appId})`,
    );
  }
  const rows = await db
    .select({
      token: devices.deviceToken,
      platform: devices.platform,
      provider: devices.provider,
      userId: devices.userId,
    })
    .from(devices)
    .where(and(...where))
    .orderBy(asc(devices.deviceToken))
    .limit(limit);
  return rows as DeviceTarget[];
};

/** Tokens of a unicast / listcast that were never registered (CONTRACT §2: failed as UNKNOWN_DEVICE). */
export const unknownTokens = async (db: Db, appId: number, tokens: string[]): Promise<string[]> => {
  const known = new Set<string>();
  for (const chunk of chunks(tokens)) {
    const rows = await db
      .select({ t: devices.deviceToken })
      .from(devices)
      .where(and(eq(devices.appId, appId), inArray(devices.deviceToken, chunk)));
    for (const r of rows) known.add(r.t);
  }
  return tokens.filter((t) => !known.has(t));
};

/** The platforms of the registered devices among `tokens`. */
export const platformsOf = async (db: Db, appId: number, tokens: string[]): Promise<Set<string>> => {
  const platforms = new Set<string>();
  for (const chunk of chunks(tokens)) {
    const rows = await db
      .selectDistinct({ platform: devices.platform })
      .from(devices)
      .where(and(eq(devices.appId, appId), inArray(devices.deviceToken, chunk)));
    for (const r of rows) platforms.add(r.platform);
  }
  return platforms;
};
