import { and, eq } from "drizzle-orm";
import { Hono } from "hono";
import { groups } from "../../db/schema";
import type { AppEnv } from "../../env";
import { adminFail } from "../../errors";
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

const idOf = (name: string, raw: string) => {
  if (!IDENTIFIER.test(raw))
    throw adminFail(400, "invalid_parameter", `${name}: must match ^[A-Za-z0-9_.:-]{1,64}$`);
  return raw;
};

/** Paged lists of any app, and technicians (docs/admin-api.md "Lists"): `{items, next_cursor}`. */
export const adminLists = new Hono<AppEnv>()
  .get("/apps/:appkey/tasks", async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    return c.json(await listTasks(c.var.db, app.id, adminQuery(c, tasksQuery)));
  })
  .get("/apps/:appkey/devices", async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    return c.json(await listDevices(c.var.db, app.id, adminQuery(c, devicesQuery)));
  })
  .get("/apps/:appkey/groups", async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    return c.json(await listGroups(c.var.db, app.id, adminQuery(c, groupsQuery)));
  })
  .get("/apps/:appkey/groups/:group_id/members", async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    const groupId = idOf("group_id", c.req.param("group_id"));
    const q = adminQuery(c, membersQuery);
    const group = await c.var.db.query.groups.findFirst({
      where: and(eq(groups.appId, app.id), eq(groups.groupId, groupId)),
    });
    if (!group) throw adminFail(404, "group_not_found", `no group ${groupId} in this app`);
    return c.json({ group_id: groupId, ...(await listMembers(c.var.db, app.id, groupId, q)) });
  })
  .get("/apps/:appkey/users/:user_id/sessions", async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    const who = { app: app.name, id: idOf("user_id", c.req.param("user_id")) };
    const sessions = await userHub(c.env, who).sessions(who);
    return c.json({ appkey: app.appkey, user_id: who.id, sessions });
  })
  .get("/technicians", async (c) => c.json(await listTechnicians(c.var.db, adminQuery(c, techniciansQuery))));
