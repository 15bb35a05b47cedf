import type { Context } from "hono";
import { z } from "zod";
import type { AppEnv } from "../../env";
import { adminFail } from "../../errors";
import { api, route } from "../../http/openapi";
import { adminBody } from "../../http/validate";
import { certify, createOrder } from "../../services/orders";
import { setBanned } from "../../services/revocation";
import { orderView } from "../../services/technician-push";
import { accountView } from "../../services/technician-view";

const certificationSchema = z.strictObject({
  approved: z.boolean(),
  message: z.string().max(500).nullable().optional(),
});

const orderSchema = z.strictObject({
  orderType: z.number().int().min(0).max(1000),
  orderTime: z.number().int().positive().nullable().optional(),
  contactPhone: z.string().max(32).nullable().optional(),
  positionLon: z.number().min(-180).max(180).nullable().optional(),
  positionLat: z.number().min(-90).max(90).nullable().optional(),
  remark: z.string().max(2000).nullable().optional(),
  photo: z.string().max(512).nullable().optional(),
});

/**
 * Bans or unbans a technician (docs/admin-api.md): a ban ends its sessions and closes its MQTT
 * connections at once.
 */
const ban = async (c: Context<AppEnv>, banned: boolean) => {
  const id = Number(c.req.param("id"));
  const row = Number.isSafeInteger(id) ? await setBanned(c.var.db, c.env, id, banned) : null;
  if (!row) throw adminFail(404, "technician_not_found", `no technician ${c.req.param("id")}`);
  return c.json({ technician: accountView(row) });
};

/** CONTRACT §1: technician certification and orders (seed 000's pushes follow). */
export const adminTechnicians = api();
route(
  adminTechnicians,
  "admin",
  {
    method: "post",
    path: "/technicians/{id}/certification",
    summary: "VERIFIED or REJECTED, and the result pushed to the technician",
    body: certificationSchema,
  },
  async (c) => {
    const id = Number(c.req.param("id"));
    const { approved, message } = await adminBody(c, certificationSchema);
    const result = Number.isInteger(id)
      ? await certify(c.var.db, c.env.PUSH_QUEUE, id, approved, message ?? null)
      : null;
    if (!result) throw adminFail(404, "technician_not_found", `no technician ${c.req.param("id")}`);
    return c.json({ technician: accountView(result.technician), task_id: result.taskId });
  },
);
route(
  adminTechnicians,
  "admin",
  { method: "post", path: "/technicians/{id}/ban", summary: "Ban: ends its sessions and MQTT connections" },
  (c) => ban(c, true),
);
route(adminTechnicians, "admin", { method: "post", path: "/technicians/{id}/unban", summary: "Unban" }, (c) =>
  ban(c, false),
);
route(
  adminTechnicians,
  "admin",
  {
    method: "post",
    path: "/orders",
    summary: "Create an order and push NEW_ORDER to every VERIFIED technician",
    body: orderSchema,
    status: 201,
  },
  async (c) => {
    const input = await adminBody(c, orderSchema);
    const { order, taskId, technicians } = await createOrder(c.var.db, c.env.PUSH_QUEUE, input);
    return c.json({ order: orderView(order), task_id: taskId, technicians }, 201);
  },
);
