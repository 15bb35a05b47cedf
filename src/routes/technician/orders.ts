import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { accountFail } from "../../errors";
import { joinedIssues, readParams } from "../../http/body";
import { answerInvitation, invitePartner, listOrders, takeOrder } from "../../services/orders";
import { orderView } from "../../services/technician-push";
import { orderListParams } from "./schemas";
import { requireTechnician } from "./session";

const idParam = (raw: string, what: string) => {
  const id = Number(raw);
  if (!Number.isInteger(id) || id <= 0) throw accountFail(`${what}不存在`);
  return id;
};

const invitationView = (i: {
  id: number;
  orderId: number;
  ownerId: number;
  partnerId: number;
  status: string;
  createAt: number;
}) => ({
  id: i.id,
  orderId: i.orderId,
  ownerId: i.ownerId,
  partnerId: i.partnerId,
  status: i.status,
  createAt: i.createAt,
});

/** CONTRACT §4: orders, taking them, partner invitations and their answers. */
export const technicianOrders = new Hono<AppEnv>()
  .get("/orders", requireTechnician, async (c) => {
    const parsed = orderListParams.safeParse(c.req.query());
    if (!parsed.success) throw accountFail(joinedIssues(parsed.error, ["scope", "page", "pageSize"]));
    const { scope, page, pageSize } = parsed.data;
    return c.json({
      status: true,
      message: await listOrders(c.var.db, c.var.technician, scope, page, pageSize),
    });
  })
  .post("/orders/:id/take", requireTechnician, async (c) => {
    const order = await takeOrder(c.var.db, c.var.technician, idParam(c.req.param("id"), "订单"));
    return c.json({ status: true, message: orderView(order) });
  })
  .post("/orders/:id/invitations", requireTechnician, async (c) => {
    const params = await readParams(c);
    const partnerId = Number(params.partnerId);
    if (!Number.isInteger(partnerId) || partnerId <= 0) throw accountFail("partnerId不能为空");
    const invitation = await invitePartner(
      c.var.db,
      c.env.PUSH_QUEUE,
      c.var.technician,
      idParam(c.req.param("id"), "订单"),
      partnerId,
    );
    return c.json({ status: true, message: invitationView(invitation) });
  })
  .post("/invitations/:id/accept", requireTechnician, async (c) => {
    const r = await answerInvitation(
      c.var.db,
      c.env.PUSH_QUEUE,
      c.var.technician,
      idParam(c.req.param("id"), "邀请"),
      true,
    );
    return c.json({ status: true, message: { ...invitationView(r), order: r.order } });
  })
  .post("/invitations/:id/reject", requireTechnician, async (c) => {
    const r = await answerInvitation(
      c.var.db,
      c.env.PUSH_QUEUE,
      c.var.technician,
      idParam(c.req.param("id"), "邀请"),
      false,
    );
    return c.json({ status: true, message: { ...invitationView(r), order: r.order } });
  });
