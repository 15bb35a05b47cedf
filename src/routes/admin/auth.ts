import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../../env";
import { adminFail } from "../../errors";
import { safeEqual } from "../../lib/crypto";

/** True when the request carries `Authorization: Bearer <ADMIN_TOKEN>`. */
export const isAdminRequest = (authorization: string | undefined, adminToken: string): boolean => {
  const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
  return Boolean(match?.[1] && adminToken && safeEqual(match[1].trim(), adminToken));
};

/** CONTRACT §1: a wrong or missing admin token gets 401 and nothing else. */
export const adminAuth = createMiddleware<AppEnv>(async (c, next) => {
  if (!isAdminRequest(c.req.header("authorization"), c.env.ADMIN_TOKEN)) {
    throw adminFail(401, "unauthorized", "a valid admin bearer token is required");
  }
  await next();
});
