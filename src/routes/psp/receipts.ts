import { api, route } from "../../http/openapi";
import { receiptsBody } from "../../push/receipts";
import { applyReceipts } from "../../services/delivery";
import { pspBody } from "./body";

/**
 * CONTRACT §2 "Delivery truth": `POST /psp/receipts {receipts: [{msg_id, state}]}` (≤ 500) →
 * `{accepted: N}`, N the msg_ids known to this app (unknown ones are ignored, not counted).
 */
export const pspReceipts = api();
route(
  pspReceipts,
  "psp",
  {
    method: "post",
    path: "/",
    summary: "Receipts from apps: received, opened, dismissed",
    body: receiptsBody,
  },
  async (c) => {
    const { receipts } = await pspBody(c, receiptsBody);
    const accepted = await applyReceipts(
      c.env,
      c.var.db,
      c.var.app,
      receipts,
      "receipt from the partner API",
    );
    return c.json({ ret: "SUCCESS", data: { accepted } });
  },
);
