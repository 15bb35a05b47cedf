import { adminFail } from "../../errors";
import { adminError } from "../../http/envelopes";
import { BODY_LIMITS, limitBody } from "../../http/limits";
import { api } from "../../http/openapi";
import { adminApps } from "./apps";
import { adminAuth } from "./auth";
import { adminConsole } from "./console";
import { adminCredentials } from "./credentials";
import { adminLists } from "./lists";
import { adminMetrics } from "./metrics";
import { adminOps } from "./ops";
import { adminTechnicians } from "./technicians";
import { adminUsers } from "./users";

/** `/api/admin/*` (CONTRACT §1): bearer ADMIN_TOKEN, JSON in and out. */
export const adminApi = api();
adminApi.onError(adminError);
adminApi.use("*", adminAuth);
adminApi.use(
  "*",
  limitBody(BODY_LIMITS.admin, (max) =>
    adminFail(413, "body_too_large", `the request body is over ${max} bytes`),
  ),
);
adminApi.route("/apps", adminApps);
adminApi.route("/apps", adminCredentials);
adminApi.route("/apps", adminUsers);
adminApi.route("/apps", adminConsole);
adminApi.route("/", adminTechnicians);
adminApi.route("/", adminLists);
adminApi.route("/metrics", adminMetrics);
adminApi.route("/ops", adminOps);
