import { and, count, desc, eq, or } from "drizzle-orm";
import type { Db } from "../db/client";
import { invitations, type OrderRow, orders, type TechnicianRow, technicians } from "../db/schema";
import { accountFail } from "../errors";
import { randomBytes } from "../lib/crypto";
import { uploadStamp } from "../lib/images";
import { orderView, pushToTechnicians } from "./technician-push";
import { pageOf, publicView } from "./technician-view";

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/** Seed 000's order number: `yyyyMMddHHmmss` (UTC+8) and 6 random capitals / digits. */
export const newOrderNum = (now: number) =>
  uploadStamp(now).slice(0, 14) + Array.from(randomBytes(6), (b) => ALNUM[b % ALNUM.length]).join("");

export type NewOrder = {
  orderType: number;
  orderTime?: number | null;
  contactPhone?: string | null;
  positionLon?: number | null;
  positionLat?: number | null;
  remark?: string | null;
  photo?: string | null;
};

/**
 * CONTRACT §1: the admin creates an order (creatorType 0) and NEW_ORDER goes to every VERIFIED
 * technician that is not banned.
 */
export const createOrder = async (db: Db, queue: Queue, input: NewOrder) => {
  let order: OrderRow | undefined;
  for (let attempt = 0; !order && attempt < 5; attempt++) {
    [order] = await db
      .insert(orders)
      .values({ ...input, orderNum: newOrderNum(Date.now()), creatorType: 0, creatorId: 0 })
      .onConflictDoNothing()
      .returning();
  }
  if (!order) throw new Error("could not allocate a unique order number");
  const verified = await db
    .select({ id: technicians.id })
    .from(technicians)
    .where(and(eq(technicians.status, "VERIFIED"), eq(technicians.banned, false)));
  const taskId = await pushToTechnicians(
    db,
    queue,
    verified.map((t) => t.id),
    { action: "NEW_ORDER", order: orderView(order), title: "你收到新订单推送消息" },
  );
  return { order, taskId, technicians: verified.length };
};

/** Seed 001's paging object over open orders or the technician's own. */
export const listOrders = async (
  db: Db,
  t: TechnicianRow,
  scope: "open" | "mine",
  page: number,
  pageSize: number,
) => {
  const where =
    scope === "open"
      ? and(eq(orders.status, "NEWLY_CREATED"), eq(orders.mainTechId, 0))
      : or(eq(orders.mainTechId, t.id), eq(orders.secondTechId, t.id));
  const [rows, [total]] = await Promise.all([
    db
      .select()
      .from(orders)
      .where(where)
      .orderBy(desc(orders.id))
      .limit(pageSize)
      .offset((page - 1) * pageSize),
    db.select({ n: count() }).from(orders).where(where),
  ]);
  return pageOf(rows.map(orderView), page, pageSize, total?.n ?? 0);
};

const requireVerified = (t: TechnicianRow, message: string) => {
  if (t.status !== "VERIFIED") throw accountFail(message);
};

/** The first VERIFIED technician to take a NEWLY_CREATED order becomes its main technician. */
export const takeOrder = async (db: Db, t: TechnicianRow, orderId: number) => {
  requireVerified(t, "只有已认证的技师可以接单");
  const [taken] = await db
    .update(orders)
    .set({ mainTechId: t.id })
    .where(and(eq(orders.id, orderId), eq(orders.status, "NEWLY_CREATED"), eq(orders.mainTechId, 0)))
    .returning();
  if (taken) return taken;
  const exists = await db.query.orders.findFirst({ where: eq(orders.id, orderId) });
  throw accountFail(exists ? "订单已被其他技师接单" : "订单不存在");
};

const technicianById = (db: Db, id: number) =>
  db.query.technicians.findFirst({ where: eq(technicians.id, id) });

/** The order's main technician invites a VERIFIED partner: INVITE_PARTNER to the partner. */
export const invitePartner = async (
  db: Db,
  queue: Queue,
  owner: TechnicianRow,
  orderId: number,
  partnerId: number,
) => {
  const order = await db.query.orders.findFirst({ where: eq(orders.id, orderId) });
  if (!order) throw accountFail("订单不存在");
  if (order.mainTechId !== owner.id) throw accountFail("只有订单的主技师可以邀请合作技师");
  if (partnerId === owner.id) throw accountFail("不能邀请自己");
  if (order.secondTechId !== 0) throw accountFail("订单已有合作技师");
  const partner = await technicianById(db, partnerId);
  // A banned account is out of sight, as in search.
  if (!partner || partner.banned) throw accountFail("合作技师不存在");
  if (partner.status !== "VERIFIED") throw accountFail("合作技师未通过认证");
  const pending = await db.query.invitations.findFirst({
    where: and(
      eq(invitations.orderId, orderId),
      eq(invitations.partnerId, partnerId),
      eq(invitations.status, "PENDING"),
    ),
  });
  if (pending) throw accountFail("已邀请该技师,请等待回复");
  const [invitation] = await db
    .insert(invitations)
    .values({ orderId, ownerId: owner.id, partnerId })
    .returning();
  if (!invitation) throw new Error("invitation not stored");
  await pushToTechnicians(db, queue, [partner.id], {
    action: "INVITE_PARTNER",
    title: `${owner.name ?? owner.phone}向你发起订单合作邀请`,
    order: orderView(order),
    owner: publicView(owner),
    partner: publicView(partner),
  });
  return invitation;
};

/** The partner answers once: INVITATION_ACCEPTED (secondTechId set) or INVITATION_REJECTED to the owner. */
export const answerInvitation = async (
  db: Db,
  queue: Queue,
  partner: TechnicianRow,
  invitationId: number,
  accept: boolean,
) => {
  const invitation = await db.query.invitations.findFirst({ where: eq(invitations.id, invitationId) });
  if (!invitation || invitation.partnerId !== partner.id) throw accountFail("邀请不存在");
  const [answered] = await db
    .update(invitations)
    .set({ status: accept ? "ACCEPTED" : "REJECTED", answeredAt: Date.now() })
    .where(and(eq(invitations.id, invitationId), eq(invitations.status, "PENDING")))
    .returning();
  if (!answered) throw accountFail("邀请已处理");
  let order = await db.query.orders.findFirst({ where: eq(orders.id, invitation.orderId) });
  if (accept) {
    const [updated] = await db
      .update(orders)
      .set({ secondTechId: partner.id })
      .where(and(eq(orders.id, invitation.orderId), eq(orders.secondTechId, 0)))
      .returning();
    if (!updated) {
      await db
        .update(invitations)
        .set({ status: "PENDING", answeredAt: null })
        .where(eq(invitations.id, invitationId));
      throw accountFail("订单已有合作技师");
    }
    order = updated;
  }
  const owner = await technicianById(db, invitation.ownerId);
  if (owner && !owner.banned && order) {
    const name = partner.name ?? partner.phone;
    await pushToTechnicians(db, queue, [owner.id], {
      action: accept ? "INVITATION_ACCEPTED" : "INVITATION_REJECTED",
      title: accept ? `${name}已接受你的邀请` : `${name}已拒绝你的邀请`,
      order: orderView(order),
      owner: publicView(owner),
      partner: publicView(partner),
    });
  }
  return { ...answered, order: order ? orderView(order) : null };
};

/** CONTRACT §1: VERIFIED or REJECTED, verifyAt / verifyMsg stamped, and the result pushed (CONTRACT §4). */
export const certify = async (
  db: Db,
  queue: Queue,
  technicianId: number,
  approved: boolean,
  message: string | null,
) => {
  const [row] = await db
    .update(technicians)
    .set({ status: approved ? "VERIFIED" : "REJECTED", verifyAt: Date.now(), verifyMsg: message })
    .where(eq(technicians.id, technicianId))
    .returning();
  if (!row) return null;
  // A banned technician gets no pushes (its certification state is still recorded).
  if (row.banned) return { technician: row, taskId: null };
  const taskId = await pushToTechnicians(db, queue, [row.id], {
    action: approved ? "CERTIFICATION_PASSED" : "CERTIFICATION_REJECTED",
    title: approved ? "你的认证已通过" : "你的认证未通过",
    technician: publicView(row),
    verifyMsg: message,
  });
  return { technician: row, taskId };
};
