import { accountFail } from "../../errors";
import { joinedIssues, readParams } from "../../http/body";
import { api, route } from "../../http/openapi";
import { answerInvitation, invitePartner, listOrders, takeOrder } from "../../services/orders";
import { orderView } from "../../services/technician-push";
import { invitationParams, orderListParams } from "./schemas";
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
export const technicianOrders = api();
route(
  technicianOrders,
  "technician",
  {
    method: "get",
    path: "/orders",
    summary: "Open NEWLY_CREATED orders (scope=open) or the technician's own (scope=mine), paged",
    query: orderListParams,
  },
  requireTechnician,
  async (c) => {
    const parsed = orderListParams.safeParse(c.req.query());
    if (!parsed.success) throw accountFail(joinedIssues(parsed.error, ["scope", "page", "pageSize"]));
    const { scope, page, pageSize } = parsed.data;
    return c.json({
      status: true,
      message: await listOrders(c.var.db, c.var.technician, scope, page, pageSize),
    });
  },
);
route(
  technicianOrders,
  "technician",
  { method: "post", path: "/orders/{id}/take", summary: "A VERIFIED technician takes a NEWLY_CREATED order" },
  requireTechnician,
  async (c) => {
    const order = await takeOrder(c.var.db, c.var.technician, idParam(c.req.param("id"), "订单"));
    return c.json({ status: true, message: orderView(order) });
  },
);
route(
  technicianOrders,
  "technician",
  {
    method: "post",
    path: "/orders/{id}/invitations",
    summary: "The order's main technician invites a VERIFIED partner",
    body: invitationParams,
  },
  requireTechnician,
  async (c) => {
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
  },
);
route(
  technicianOrders,
  "technician",
  { method: "post", path: "/invitations/{id}/accept", summary: "The partner accepts (secondTechId set)" },
  requireTechnician,
  async (c) => {
    const r = await answerInvitation(
      c.var.db,
      c.env.PUSH_QUEUE,
      c.var.technician,
      idParam(c.req.param("id"), "邀请"),
      true,
    );
    return c.json({ status: true, message: { ...invitationView(r), order: r.order } });
  },
);
route(
  technicianOrders,
  "technician",
  { method: "post", path: "/invitations/{id}/reject", summary: "The partner rejects" },
  requireTechnician,
  async (c) => {
    const r = await answerInvitation(
      c.var.db,
      c.env.PUSH_QUEUE,
      c.var.technician,
      idParam(c.req.param("id"), "邀请"),
      false,
    );
    return c.json({ status: true, message: { ...invitationView(r), order: r.order } });
  },
);
