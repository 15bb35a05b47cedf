import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../../env";
import { pspFail } from "../../errors";
import { parseJsonObject } from "../../http/body";
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
export const pspUsers = new Hono<AppEnv>()
  .post("/:user_id/revoke-tokens", async (c) => {
    const userId = pspParse(identifier, c.req.param("user_id"));
    pspParse(z.strictObject({}), await optionalBody(await c.req.text()));
    const { closed, generation } = await revokeUserTokens(c.var.db, c.env, c.var.app, userId);
    return c.json({ ret: "SUCCESS", data: { user_id: userId, token_generation: generation, closed } });
  })
  .post("/:user_id/kick", async (c) => {
    const userId = pspParse(identifier, c.req.param("user_id"));
    const { client_id } = pspParse(kickSchema, await optionalBody(await c.req.text()));
    const { closed } = await kickUser(c.env, c.var.app, userId, client_id);
    return c.json({ ret: "SUCCESS", data: { user_id: userId, closed } });
  });
