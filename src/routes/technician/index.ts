import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { technicianError } from "../../http/envelopes";
import { account } from "./account";
import { technicianOrders } from "./orders";
import { profile } from "./profile";
import { avatarUpload, idPhotoUpload } from "./uploads";

/** `/api/mobile/technician/v2/*` (seed 001, CONTRACT §4). */
export const technicianApi = new Hono<AppEnv>();
technicianApi.onError(technicianError);
technicianApi.route("/", account);
technicianApi.route("/", technicianOrders);
technicianApi.route("/", profile);
technicianApi.route("/avatar", avatarUpload);
technicianApi.route("/idPhoto", idPhotoUpload);
