import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { adminError } from "../../http/envelopes";
import { adminApps } from "./apps";
import { adminAuth } from "./auth";
import { adminCredentials } from "./credentials";
import { adminTechnicians } from "./technicians";

/** `/api/admin/*` (CONTRACT §1): bearer ADMIN_TOKEN, JSON in and out. */
export const adminApi = new Hono<AppEnv>();
adminApi.onError(adminError);
adminApi.use("*", adminAuth);
adminApi.route("/apps", adminApps);
adminApi.route("/apps", adminCredentials);
adminApi.route("/", adminTechnicians);
