import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { userHub } from "../../hubs/common";
import { requireGroup } from "../../services/groups";
import {
  devicesQuery,
  groupsQuery,
  listDevices,
  listGroups,
  listMembers,
  listTasks,
  membersQuery,
  tasksQuery,
} from "../../services/lists";
import { pspParse, pspQuery } from "./body";
import { identifier } from "./schemas";

/** Paged lists of the calling app (docs/partner-api.md "Lists"): `{items, next_cursor}`. */
export const pspLists = new Hono<AppEnv>()
  .get("/tasks", async (c) => {
    const data = await listTasks(c.var.db, c.var.app.id, pspQuery(c, tasksQuery));
    return c.json({ ret: "SUCCESS", data });
  })
  .get("/devices", async (c) => {
    const data = await listDevices(c.var.db, c.var.app.id, pspQuery(c, devicesQuery));
    return c.json({ ret: "SUCCESS", data });
  })
  .get("/groups", async (c) => {
    const data = await listGroups(c.var.db, c.var.app.id, pspQuery(c, groupsQuery));
    return c.json({ ret: "SUCCESS", data });
  })
  .get("/groups/:group_id/members", async (c) => {
    const groupId = pspParse(identifier, c.req.param("group_id"));
    const q = pspQuery(c, membersQuery);
    await requireGroup(c.var.db, c.var.app.id, groupId);
    const data = await listMembers(c.var.db, c.var.app.id, groupId, q);
    return c.json({ ret: "SUCCESS", data: { group_id: groupId, ...data } });
  })
  .get("/users/:user_id/sessions", async (c) => {
    const who = { app: c.var.app.name, id: pspParse(identifier, c.req.param("user_id")) };
    const sessions = await userHub(c.env, who).sessions(who);
    return c.json({ ret: "SUCCESS", data: { user_id: who.id, sessions } });
  });
