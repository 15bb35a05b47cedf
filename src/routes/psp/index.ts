import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { pspError } from "../../http/envelopes";
import { appView } from "../../services/apps";
import { pspAuth } from "./auth";
import { pspDevices } from "./devices";
import { pspGroups } from "./groups";
import { pspPresence } from "./presence";
import { pspPush } from "./push";
import { pspReceipts } from "./receipts";

/** `/psp/*` (seed 003, CONTRACT §2): every call authenticated first, answers in seed 003's envelope. */
export const pspApi = new Hono<AppEnv>();
pspApi.onError(pspError);
pspApi.use("*", pspAuth);

pspApi.get("/app", (c) => {
  // CONTRACT §2's fields exactly; delivery settings are the admin API's.
  const { created_at: _, embed_msg_id: _e, callback_url: _c, ...view } = appView(c.var.app);
  return c.json({ ret: "SUCCESS", data: view });
});

pspApi.route("/groups", pspGroups);
pspApi.route("/devices", pspDevices);
pspApi.route("/push", pspPush);
pspApi.route("/receipts", pspReceipts);
pspApi.route("/", pspPresence);
