import { and, asc, desc, eq, gt, gte, lt, or, type SQL, sql } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "../db/client";
import { devices, groupMembers, groups, type TechnicianRow, tasks, technicians } from "../db/schema";
import { IDENTIFIER } from "../lib/ids";
import { accountView } from "./technician-view";

/**
 * Paged operator lists (docs/partner-api.md "Lists", docs/admin-api.md "Lists"), shared by the
 * partner surface (one app: its own) and the admin surface (any app). Paging is by cursor: the
 * opaque `next_cursor` is the base64url JSON of the last item's sort key, so a page is one
 * indexed range read however deep it is, and rows added or removed meanwhile never shift a page.
 * Every query is bounded by the app id first: another app's ids read as nothing.
 */

export const LIST_LIMIT = { default: 50, max: 200 } as const;

export type Page<T> = { items: T[]; next_cursor: string | null };

const toBase64Url = (text: string) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
const fromBase64Url = (b64: string) =>
  new TextDecoder().decode(
    Uint8Array.from(atob(b64.replaceAll("-", "+").replaceAll("_", "/")), (c) => c.charCodeAt(0)),
  );

export const encodeCursor = (key: unknown[]) => toBase64Url(JSON.stringify(key));

/** A `cursor` parameter holding the sort key `key` describes. */
const cursor = <T extends z.ZodType>(key: T) =>
  z
    .string()
    .max(1024)
    .transform((s, ctx): z.infer<T> => {
      try {
        const parsed = key.safeParse(JSON.parse(fromBase64Url(s)));
        if (parsed.success) return parsed.data;
      } catch {
        // falls through to the issue below
      }
      ctx.addIssue({ code: "custom", message: "is not a cursor from next_cursor" });
      return z.NEVER;
    });

const limit = z.coerce.number().int().min(1).max(LIST_LIMIT.max).default(LIST_LIMIT.default);
const identifier = z.string().regex(IDENTIFIER, "must match ^[A-Za-z0-9_.:-]{1,64}$");
/** Milliseconds since the epoch, or an ISO 8601 time with a zone. */
const time = z.string().transform((s, ctx) => {
  const ms = /^\d{1,16}$/.test(s) ? Number(s) : /T.*(Z|[+-]\d\d:?\d\d)$/.test(s) ? Date.parse(s) : Number.NaN;
  if (Number.isFinite(ms)) return ms;
  ctx.addIssue({ code: "custom", message: "must be milliseconds since the epoch or ISO 8601 with a zone" });
  return z.NEVER;
});

export const TASK_STATUSES = [
  "scheduled",
  "queued",
  "sending",
  "done",
  "failed",
  "cancelled",
  "expired",
] as const;
export const TASK_TYPES = ["unicast", "listcast", "groupcast", "broadcast", "customizedcast"] as const;
export const TECHNICIAN_STATUSES = [
  "NEWLY_CREATED",
  "IN_VERIFICATION",
  "VERIFIED",
  "REJECTED",
  "BANNED",
] as const;

export const tasksQuery = z.strictObject({
  status: z.enum(TASK_STATUSES).optional(),
  type: z.enum(TASK_TYPES).optional(),
  kind: z.enum(["msg", "config"]).optional(),
  since: time.optional(),
  until: time.optional(),
  cursor: cursor(z.tuple([z.number().int(), z.string()])).optional(),
  limit,
});

export const devicesQuery = z
  .strictObject({
    platform: z.enum(["ios", "android"]).optional(),
    provider: z.enum(["apns", "getui", "fcm"]).optional(),
    user_id: identifier.optional(),
    /** customizedcast's alias is a user id: the same filter. */
    alias: identifier.optional(),
    cursor: cursor(z.tuple([z.string()])).optional(),
    limit,
  })
  .refine((q) => q.user_id === undefined || q.alias === undefined || q.user_id === q.alias, {
    message: "give user_id or alias (they are the same filter)",
    path: ["alias"],
  });

export const groupsQuery = z.strictObject({
  parent_id: identifier.optional(),
  cursor: cursor(z.tuple([z.string()])).optional(),
  limit,
});

export const membersQuery = z.strictObject({ cursor: cursor(z.tuple([z.string()])).optional(), limit });

export const techniciansQuery = z.strictObject({
  status: z.enum(TECHNICIAN_STATUSES).optional(),
  cursor: cursor(z.tuple([z.number().int()])).optional(),
  limit,
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** `rows` were read with limit + 1: the extra row says whether another page follows. */
function pageOf<R, T>(rows: R[], n: number, view: (r: R) => T, key: (r: R) => unknown[]): Page<T> {
  const page = rows.slice(0, n);
  const last = page[page.length - 1];
  return { items: page.map(view), next_cursor: rows.length > n && last ? encodeCursor(key(last)) : null };
}

/** Tasks of an app, newest first. */
export async function listTasks(db: Db, appId: number, q: z.infer<typeof tasksQuery>) {
  const where: (SQL | undefined)[] = [eq(tasks.appId, appId)];
  if (q.status) where.push(eq(tasks.status, q.status));
  if (q.type) where.push(eq(tasks.type, q.type));
  if (q.kind) where.push(eq(tasks.kind, q.kind));
  if (q.since !== undefined) where.push(gte(tasks.createdAt, q.since));
  if (q.until !== undefined) where.push(lt(tasks.createdAt, q.until));
  if (q.cursor) {
    const [at, id] = q.cursor;
    where.push(or(lt(tasks.createdAt, at), and(eq(tasks.createdAt, at), lt(tasks.id, id))));
  }
  const rows = await db
    .select()
    .from(tasks)
    .where(and(...where))
    .orderBy(desc(tasks.createdAt), desc(tasks.id))
    .limit(q.limit + 1);
  return pageOf(
    rows,
    q.limit,
    (t) => ({
      task_id: t.id,
      kind: t.kind,
      type: t.type,
      status: t.status,
      production_mode: t.productionMode,
      out_biz_no: t.outBizNo,
      start_time: iso(t.startAt),
      expire_time: iso(t.expireAt),
      created_at: iso(t.createdAt),
      updated_at: iso(t.updatedAt),
    }),
    (t) => [t.createdAt, t.id],
  );
}

/** Devices of an app, by device token. */
export async function listDevices(db: Db, appId: number, q: z.infer<typeof devicesQuery>) {
  const where: (SQL | undefined)[] = [eq(devices.appId, appId)];
  const userId = q.user_id ?? q.alias;
  if (userId !== undefined) where.push(eq(devices.userId, userId));
  if (q.platform) where.push(eq(devices.platform, q.platform));
  if (q.provider) where.push(eq(devices.provider, q.provider));
  if (q.cursor) where.push(gt(devices.deviceToken, q.cursor[0]));
  const rows = await db
    .select()
    .from(devices)
    .where(and(...where))
    .orderBy(asc(devices.deviceToken))
    .limit(q.limit + 1);
  return pageOf(
    rows,
    q.limit,
    (d) => ({
      device_token: d.deviceToken,
      platform: d.platform,
      provider: d.provider,
      user_id: d.userId,
      created_at: iso(d.createdAt),
      updated_at: iso(d.updatedAt),
    }),
    (d) => [d.deviceToken],
  );
}

/** Groups of an app, by group id, with their direct member counts. */
export async function listGroups(db: Db, appId: number, q: z.infer<typeof groupsQuery>) {
  const where: (SQL | undefined)[] = [eq(groups.appId, appId)];
  if (q.parent_id !== undefined) where.push(eq(groups.parentId, q.parent_id));
  if (q.cursor) where.push(gt(groups.groupId, q.cursor[0]));
  const members = sql<number>`(SELECT COUNT(*) FROM ${groupMembers} WHERE ${groupMembers.appId} = ${groups.appId} AND ${groupMembers.groupId} = ${groups.groupId})`;
  const rows = await db
    .select({ g: groups, members })
    .from(groups)
    .where(and(...where))
    .orderBy(asc(groups.groupId))
    .limit(q.limit + 1);
  return pageOf(
    rows,
    q.limit,
    ({ g, members }) => ({
      group_id: g.groupId,
      name: g.name,
      parent_id: g.parentId,
      members: Number(members),
      created_at: iso(g.createdAt),
      updated_at: iso(g.updatedAt),
    }),
    ({ g }) => [g.groupId],
  );
}

/** Members of a group (the caller has checked the group is the app's), by user id. */
export async function listMembers(db: Db, appId: number, groupId: string, q: z.infer<typeof membersQuery>) {
  const where = [eq(groupMembers.appId, appId), eq(groupMembers.groupId, groupId)];
  if (q.cursor) where.push(gt(groupMembers.userId, q.cursor[0]));
  const rows = await db
    .select()
    .from(groupMembers)
    .where(and(...where))
    .orderBy(asc(groupMembers.userId))
    .limit(q.limit + 1);
  return pageOf(
    rows,
    q.limit,
    (m) => ({ user_id: m.userId, added_at: iso(m.addedAt) }),
    (m) => [m.userId],
  );
}

/** Technicians (the built-in app's accounts), by id; `status` as seed 001 shows it (BANNED wins). */
export async function listTechnicians(db: Db, q: z.infer<typeof techniciansQuery>) {
  const where: (SQL | undefined)[] = [];
  if (q.status === "BANNED") where.push(eq(technicians.banned, true));
  else if (q.status) where.push(and(eq(technicians.status, q.status), eq(technicians.banned, false)));
  if (q.cursor) where.push(gt(technicians.id, q.cursor[0]));
  const rows: TechnicianRow[] = await db
    .select()
    .from(technicians)
    .where(and(...where))
    .orderBy(asc(technicians.id))
    .limit(q.limit + 1);
  return pageOf(rows, q.limit, accountView, (t) => [t.id]);
}
