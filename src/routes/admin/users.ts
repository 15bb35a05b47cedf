import type { Context } from "hono";
import { z } from "zod";
import { adminFail } from "../../errors";
import { api, route } from "../../http/openapi";
import { adminBody } from "../../http/validate";
import { IDENTIFIER } from "../../lib/ids";
import { requireApp } from "../../services/apps";
import { kickUser, revokeUserTokens } from "../../services/revocation";

const userIdOf = (raw: string) => {
  if (!IDENTIFIER.test(raw))
    throw adminFail(400, "invalid_parameter", "user_id: must match ^[A-Za-z0-9_.:-]{1,64}$");
  return raw;
};

/** Reads an optional admin JSON body: an empty one is `{}`. */
const optionalBody = async <T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> =>
  (await c.req.text()).trim() === "" ? schema.parse({}) : adminBody(c, schema);

const kickSchema = z.strictObject({ client_id: z.string().min(1).max(256).optional() });

/** Operator calls on one user of any app (docs/admin-api.md "Users and connections"). */
const revokeSchema = z.strictObject({});

export const adminUsers = api();
route(
  adminUsers,
  "admin",
  {
    method: "post",
    path: "/{appkey}/users/{user_id}/revoke-tokens",
    summary: "Make every MQTT token of the user invalid and close its connections",
    body: revokeSchema,
  },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    const userId = userIdOf(c.req.param("user_id"));
    await optionalBody(c, revokeSchema);
    const { closed, generation } = await revokeUserTokens(c.var.db, c.env, app, userId);
    return c.json({ appkey: app.appkey, user_id: userId, token_generation: generation, closed });
  },
);
route(
  adminUsers,
  "admin",
  {
    method: "post",
    path: "/{appkey}/users/{user_id}/kick",
    summary: "Close the user's MQTT connections (one client id, or all)",
    body: kickSchema,
  },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    const userId = userIdOf(c.req.param("user_id"));
    const { client_id } = await optionalBody(c, kickSchema);
    const { closed } = await kickUser(c.env, app, userId, client_id);
    return c.json({ appkey: app.appkey, user_id: userId, closed });
  },
);
