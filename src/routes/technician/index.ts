import { accountFail } from "../../errors";
import { technicianError } from "../../http/envelopes";
import { BODY_LIMITS, limitBody } from "../../http/limits";
import { api } from "../../http/openapi";
import { account } from "./account";
import { technicianOrders } from "./orders";
import { profile } from "./profile";
import { avatarUpload, idPhotoUpload } from "./uploads";

/** `/api/mobile/technician/v2/*` (seed 001, CONTRACT §4). */
export const technicianApi = api();
technicianApi.onError(technicianError);
const smallBody = limitBody(BODY_LIMITS.technician, () => accountFail("请求内容过大", 413));
// Uploads have their own limit (2 MB, seed 001's 406).
technicianApi.use("*", (c, next) =>
  /\/(avatar|idPhoto)\/?$/.test(c.req.path) ? next() : smallBody(c, next),
);
technicianApi.route("/", account);
technicianApi.route("/", technicianOrders);
technicianApi.route("/", profile);
technicianApi.route("/avatar", avatarUpload);
technicianApi.route("/idPhoto", idPhotoUpload);
