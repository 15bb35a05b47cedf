import { pspFail } from "../../errors";
import { pspError } from "../../http/envelopes";
import { BODY_LIMITS, limitBody } from "../../http/limits";
import { api, route } from "../../http/openapi";
import { appView } from "../../services/apps";
import { pspAuth } from "./auth";
import { pspDevices } from "./devices";
import { pspGroups } from "./groups";
import { pspLists } from "./lists";
import { pspPresence } from "./presence";
import { pspPush } from "./push";
import { pspReceipts } from "./receipts";
import { pspUsers } from "./users";

/** `/psp/*` (seed 003, CONTRACT §2): every call authenticated first, answers in seed 003's envelope. */
export const pspApi = api();
pspApi.onError(pspError);
// Before authentication, which reads the body to check the sign.
pspApi.use(
  "*",
  limitBody(BODY_LIMITS.psp, (max) => pspFail(413, 2022, `the request body is over ${max} bytes`)),
);
pspApi.use("*", pspAuth);

route(pspApi, "psp", { method: "get", path: "/app", summary: "The calling app and its settings" }, (c) => {
  // CONTRACT §2's fields exactly: the admin-only settings are left out.
  const {
    created_at: _,
    mqtt_keepalive: _k,
    embed_msg_id: _e,
    callback_url: _c,
    ...view
  } = appView(c.var.app);
  return c.json({ ret: "SUCCESS", data: view });
});

pspApi.route("/", pspLists);
pspApi.route("/groups", pspGroups);
pspApi.route("/devices", pspDevices);
pspApi.route("/push", pspPush);
pspApi.route("/receipts", pspReceipts);
pspApi.route("/users", pspUsers);
pspApi.route("/", pspPresence);
