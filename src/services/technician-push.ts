import { and, eq, ne } from "drizzle-orm";
import type { Db } from "../db/client";
import { devices, type OrderRow } from "../db/schema";
import type { PushRequest } from "../push/request";
import { findAppByName } from "./apps";
import { createTask } from "./push-tasks";
import type { publicView } from "./technician-view";

/** The built-in app the technician service runs as (CONTRACT §0). */
export const TECHNICIAN_APP = "technician";

/** Seed 000's order object. */
export const orderView = (o: OrderRow) => ({
  id: o.id,
  orderNum: o.orderNum,
  orderType: o.orderType,
  photo: o.photo,
  orderTime: o.orderTime,
  addTime: o.addTime,
  creatorType: o.creatorType,
  creatorId: o.creatorId,
  creatorName: o.creatorName,
  contactPhone: o.contactPhone,
  positionLon: o.positionLon,
  positionLat: o.positionLat,
  remark: o.remark,
  mainTechId: o.mainTechId,
  secondTechId: o.secondTechId,
  status: o.status,
});

export type TechnicianPush =
  | { action: "NEW_ORDER"; order: ReturnType<typeof orderView>; title: string }
  | {
      action: "INVITE_PARTNER" | "INVITATION_ACCEPTED" | "INVITATION_REJECTED";
      title: string;
      order: ReturnType<typeof orderView>;
      owner: ReturnType<typeof publicView>;
      partner: ReturnType<typeof publicView>;
    }
  | {
      action: "CERTIFICATION_PASSED" | "CERTIFICATION_REJECTED";
      title: string;
      technician: ReturnType<typeof publicView>;
      verifyMsg: string | null;
    };

/**
 * Sends a seed 000 push to technicians through the same pipeline as partner pushes: a task on
 * the `technician` app, MQTT `technician/user/<id>/<action>`, and the technicians' devices (their
 * Getui push id, registered iOS devices). The MQTT body and provider payload are the seed object.
 */
export const pushToTechnicians = async (
  db: Db,
  queue: Queue,
  technicianIds: number[],
  push: TechnicianPush,
): Promise<string | null> => {
  const app = await findAppByName(db, TECHNICIAN_APP);
  if (!app || technicianIds.length === 0) return null;
  const req: PushRequest = {
    kind: "msg",
    audience: { type: "customizedcast", aliases: technicianIds.map(String) },
    displayType: "message",
    payload: { display_type: "message", body: { custom: push } },
    custom: push,
    title: push.title,
    productionMode: true,
    pushType: push.action,
  };
  return createTask(db, queue, app, req, Date.now());
};

/**
 * Seed 001 §7's Getui push id as a device of the technician app, so pushes reach it; a push id
 * names one device, so it moves to the technician who set it last.
 */
export const registerGetuiDevice = async (db: Db, technicianId: number, pushId: string) => {
  const app = await findAppByName(db, TECHNICIAN_APP);
  if (!app) return;
  const userId = String(technicianId);
  await db.batch([
    db
      .delete(devices)
      .where(
        and(
          eq(devices.appId, app.id),
          eq(devices.userId, userId),
          eq(devices.provider, "getui"),
          ne(devices.deviceToken, pushId),
        ),
      ),
    db
      .insert(devices)
      .values({ appId: app.id, deviceToken: pushId, platform: "android", provider: "getui", userId })
      .onConflictDoUpdate({
        target: [devices.appId, devices.deviceToken],
        set: { platform: "android", provider: "getui", userId, updatedAt: Date.now() },
      }),
  ]);
};
