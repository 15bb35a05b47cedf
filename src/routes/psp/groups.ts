import { and, count, eq, inArray } from "drizzle-orm";
import { groupMembers, groups } from "../../db/schema";
import { pspFail } from "../../errors";
import { api, route } from "../../http/openapi";
import { groupHub, userHub } from "../../hubs/common";
import { chunks, IN_CHUNK } from "../../lib/chunks";
import { requireGroup, unknownGroup } from "../../services/groups";
import { pspBody, pspParse } from "./body";
import { groupSchema, identifier, membersSchema } from "./schemas";

/** CONTRACT §2: groups / organisation units and their members. */
export const pspGroups = api();
route(
  pspGroups,
  "psp",
  {
    method: "put",
    path: "/{group_id}",
    summary: "Create or update a group / organisation unit",
    params: { group_id: identifier },
    body: groupSchema,
  },
  async (c) => {
    const groupId = pspParse(identifier, c.req.param("group_id"));
    const input = await pspBody(c, groupSchema);
    const { db, app } = c.var;
    const find = (id: string) =>
      db.query.groups.findFirst({ where: and(eq(groups.appId, app.id), eq(groups.groupId, id)) });
    const existing = await find(groupId);
    const parentId = input.parent_id === undefined ? (existing?.parentId ?? null) : input.parent_id;
    if (parentId !== null) {
      // The parent must exist, and the tree must stay a tree.
      let cursor: string | null = parentId;
      for (let depth = 0; cursor !== null; depth++) {
        if (cursor === groupId || depth > 64) throw pspFail(400, 1001, "parent_id would make a cycle");
        const parent = await find(cursor);
        if (!parent) throw unknownGroup(cursor);
        cursor = parent.parentId;
      }
    }
    const name = input.name === undefined ? (existing?.name ?? null) : input.name;
    await db
      .insert(groups)
      .values({ appId: app.id, groupId, name, parentId })
      .onConflictDoUpdate({
        target: [groups.appId, groups.groupId],
        set: { name, parentId, updatedAt: Date.now() },
      });
    return c.json({ ret: "SUCCESS", data: { group_id: groupId, name, parent_id: parentId } });
  },
);
route(
  pspGroups,
  "psp",
  {
    method: "post",
    path: "/{group_id}/members",
    summary: "Add and remove members",
    params: { group_id: identifier },
    body: membersSchema,
  },
  async (c) => {
    const groupId = pspParse(identifier, c.req.param("group_id"));
    const input = await pspBody(c, membersSchema);
    const { db, app } = c.var;
    await requireGroup(db, app.id, groupId);
    const add = [...new Set(input.add ?? [])];
    const remove = [...new Set(input.remove ?? [])].filter((u) => !add.includes(u));
    const inGroup = and(eq(groupMembers.appId, app.id), eq(groupMembers.groupId, groupId));
    // One transaction; rows of 3 bound values and IN lists in chunks under D1's 100 parameters.
    const [first, ...rest] = [
      ...chunks(add, Math.floor(IN_CHUNK / 3)).map((part) =>
        db
          .insert(groupMembers)
          .values(part.map((userId) => ({ appId: app.id, groupId, userId })))
          .onConflictDoNothing(),
      ),
      ...chunks(remove).map((part) =>
        db.delete(groupMembers).where(and(inGroup, inArray(groupMembers.userId, part))),
      ),
    ];
    if (first) await db.batch([first, ...rest]);
    // D1 is the truth; the hubs follow at once, so a removed member stops receiving now.
    await Promise.all([
      remove.length ? groupHub(c.env, app.name, groupId).removeMembers(app.name, groupId, remove) : null,
      add.length ? groupHub(c.env, app.name, groupId).addMembers(app.name, groupId, add) : null,
      ...add.map((id) =>
        userHub(c.env, { app: app.name, id }).setMembership({ app: app.name, id }, groupId, true),
      ),
      ...remove.map((id) =>
        userHub(c.env, { app: app.name, id }).setMembership({ app: app.name, id }, groupId, false),
      ),
    ]);
    const [total] = await db.select({ n: count() }).from(groupMembers).where(inGroup);
    return c.json({
      ret: "SUCCESS",
      data: { group_id: groupId, added: add, removed: remove, members: total?.n ?? 0 },
    });
  },
);
