import { api, route } from "../../http/openapi";
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
export const pspLists = api();
route(
  pspLists,
  "psp",
  { method: "get", path: "/tasks", summary: "The app's tasks, newest first", query: tasksQuery },
  async (c) => {
    const data = await listTasks(c.var.db, c.var.app.id, pspQuery(c, tasksQuery));
    return c.json({ ret: "SUCCESS", data });
  },
);
route(
  pspLists,
  "psp",
  { method: "get", path: "/devices", summary: "The app's devices", query: devicesQuery },
  async (c) => {
    const data = await listDevices(c.var.db, c.var.app.id, pspQuery(c, devicesQuery));
    return c.json({ ret: "SUCCESS", data });
  },
);
route(
  pspLists,
  "psp",
  { method: "get", path: "/groups", summary: "The app's groups", query: groupsQuery },
  async (c) => {
    const data = await listGroups(c.var.db, c.var.app.id, pspQuery(c, groupsQuery));
    return c.json({ ret: "SUCCESS", data });
  },
);
route(
  pspLists,
  "psp",
  {
    method: "get",
    path: "/groups/{group_id}/members",
    summary: "A group's members",
    params: { group_id: identifier },
    query: membersQuery,
  },
  async (c) => {
    const groupId = pspParse(identifier, c.req.param("group_id"));
    const q = pspQuery(c, membersQuery);
    await requireGroup(c.var.db, c.var.app.id, groupId);
    const data = await listMembers(c.var.db, c.var.app.id, groupId, q);
    return c.json({ ret: "SUCCESS", data: { group_id: groupId, ...data } });
  },
);
route(
  pspLists,
  "psp",
  {
    method: "get",
    path: "/users/{user_id}/sessions",
    summary: "A user's MQTT sessions",
    params: { user_id: identifier },
  },
  async (c) => {
    const who = { app: c.var.app.name, id: pspParse(identifier, c.req.param("user_id")) };
    const sessions = await userHub(c.env, who).sessions(who);
    return c.json({ ret: "SUCCESS", data: { user_id: who.id, sessions } });
  },
);
