import { and, eq } from "drizzle-orm";
import type { Context } from "hono";
import { groups } from "../../db/schema";
import type { AppEnv } from "../../env";
import { adminFail } from "../../errors";
import { api, route } from "../../http/openapi";
import { adminQuery } from "../../http/validate";
import { userHub } from "../../hubs/common";
import { IDENTIFIER } from "../../lib/ids";
import { requireApp } from "../../services/apps";
import {
  devicesQuery,
  groupsQuery,
  listDevices,
  listGroups,
  listMembers,
  listTasks,
  listTechnicians,
  membersQuery,
  tasksQuery,
  techniciansQuery,
} from "../../services/lists";

export const idOf = (name: string, raw: string) => {
  if (!IDENTIFIER.test(raw))
    throw adminFail(400, "invalid_parameter", `${name}: must match ^[A-Za-z0-9_.:-]{1,64}$`);
  return raw;
};

/** One page of the members of `:appkey`'s group `:group_id` (404 `group_not_found` if none). */
export const membersPage = async (c: Context<AppEnv>) => {
  const app = await requireApp(c.var.db, c.req.param("appkey") ?? "");
  const groupId = idOf("group_id", c.req.param("group_id") ?? "");
  const q = adminQuery(c, membersQuery);
  const group = await c.var.db.query.groups.findFirst({
    where: and(eq(groups.appId, app.id), eq(groups.groupId, groupId)),
  });
  if (!group) throw adminFail(404, "group_not_found", `no group ${groupId} in this app`);
  return { app, groupId, page: await listMembers(c.var.db, app.id, groupId, q) };
};

/** Paged lists of any app, and technicians (docs/admin-api.md "Lists"): `{items, next_cursor}`. */
export const adminLists = api();
route(
  adminLists,
  "admin",
  { method: "get", path: "/apps/{appkey}/tasks", summary: "An app's tasks, newest first", query: tasksQuery },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    return c.json(await listTasks(c.var.db, app.id, adminQuery(c, tasksQuery)));
  },
);
route(
  adminLists,
  "admin",
  { method: "get", path: "/apps/{appkey}/devices", summary: "An app's devices", query: devicesQuery },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    return c.json(await listDevices(c.var.db, app.id, adminQuery(c, devicesQuery)));
  },
);
route(
  adminLists,
  "admin",
  { method: "get", path: "/apps/{appkey}/groups", summary: "An app's groups", query: groupsQuery },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    return c.json(await listGroups(c.var.db, app.id, adminQuery(c, groupsQuery)));
  },
);
route(
  adminLists,
  "admin",
  {
    method: "get",
    path: "/apps/{appkey}/groups/{group_id}/members",
    summary: "A group's members",
    query: membersQuery,
  },
  async (c) => {
    const { groupId, page } = await membersPage(c);
    return c.json({ group_id: groupId, ...page });
  },
);
route(
  adminLists,
  "admin",
  { method: "get", path: "/apps/{appkey}/users/{user_id}/sessions", summary: "A user's MQTT sessions" },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    const who = { app: app.name, id: idOf("user_id", c.req.param("user_id")) };
    const sessions = await userHub(c.env, who).sessions(who);
    return c.json({ appkey: app.appkey, user_id: who.id, sessions });
  },
);
route(
  adminLists,
  "admin",
  { method: "get", path: "/technicians", summary: "Technicians, by id", query: techniciansQuery },
  async (c) => c.json(await listTechnicians(c.var.db, adminQuery(c, techniciansQuery))),
);
