import { z } from "zod";
import { pspFail } from "../../errors";
import { parseJsonObject } from "../../http/body";
import { api, route } from "../../http/openapi";
import { kickUser, revokeUserTokens } from "../../services/revocation";
import { pspParse } from "./body";
import { identifier, kickSchema } from "./schemas";

/** An optional JSON body: empty is `{}` (2008 when it is not JSON). */
const optionalBody = async (text: string) => {
  if (text.trim() === "") return {};
  const body = parseJsonObject(text);
  if (!body) throw pspFail(400, 2008, "the body is not a valid JSON object");
  return body;
};

/** Operator calls on one user of the calling app (docs/partner-api.md "Users"). */
const revokeSchema = z.strictObject({});

export const pspUsers = api();
route(
  pspUsers,
  "psp",
  {
    method: "post",
    path: "/{user_id}/revoke-tokens",
    summary: "Make every MQTT token of the user invalid and close its connections",
    params: { user_id: identifier },
    body: revokeSchema,
  },
  async (c) => {
    const userId = pspParse(identifier, c.req.param("user_id"));
    pspParse(revokeSchema, await optionalBody(await c.req.text()));
    const { closed, generation } = await revokeUserTokens(c.var.db, c.env, c.var.app, userId);
    return c.json({ ret: "SUCCESS", data: { user_id: userId, token_generation: generation, closed } });
  },
);
route(
  pspUsers,
  "psp",
  {
    method: "post",
    path: "/{user_id}/kick",
    summary: "Close the user's MQTT connections (one client id, or all)",
    params: { user_id: identifier },
    body: kickSchema,
  },
  async (c) => {
    const userId = pspParse(identifier, c.req.param("user_id"));
    const { client_id } = pspParse(kickSchema, await optionalBody(await c.req.text()));
    const { closed } = await kickUser(c.env, c.var.app, userId, client_id);
    return c.json({ ret: "SUCCESS", data: { user_id: userId, closed } });
  },
);
