import { and, eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { groups } from "../db/schema";
import { pspFail } from "../errors";

/** Unknown group (CONTRACT §2: 404); the code is the platform's own. */
export const unknownGroup = (id: string) => pspFail(404, 3001, `unknown group ${id}`);

/** The app's group, or 404 / 3001. */
export async function requireGroup(db: Db, appId: number, groupId: string) {
  const group = await db.query.groups.findFirst({
    where: and(eq(groups.appId, appId), eq(groups.groupId, groupId)),
  });
  if (!group) throw unknownGroup(groupId);
  return group;
}
