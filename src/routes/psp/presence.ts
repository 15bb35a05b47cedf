import { api, route } from "../../http/openapi";
import { userHub } from "../../hubs/common";
import { signToken } from "../../lib/jwt";
import { pspBody, pspParse } from "./body";
import { DEFAULT_MQTT_TTL_S, mqttTokenSchema, presenceQuery } from "./schemas";

/** CONTRACT §2: presence and MQTT tokens. */
export const pspPresence = api();
route(
  pspPresence,
  "psp",
  {
    method: "get",
    path: "/presence",
    summary: "A user's presence: {user_id, online, focus, last_seen}",
    query: presenceQuery,
  },
  async (c) => {
    const { user_id } = pspParse(presenceQuery, { user_id: c.req.query("user_id") });
    const who = { app: c.var.app.name, id: user_id };
    return c.json({ ret: "SUCCESS", data: await userHub(c.env, who).presence(who) });
  },
);
route(
  pspPresence,
  "psp",
  {
    method: "post",
    path: "/mqtt/token",
    summary: "A signed MQTT token for a user id or watch imei (default 30 days)",
    body: mqttTokenSchema,
  },
  async (c) => {
    const { sub, ttl_s, device_class } = await pspBody(c, mqttTokenSchema);
    // The identity's current token generation: revoke-tokens makes every older token invalid.
    const who = { app: c.var.app.name, id: sub };
    const gen = await userHub(c.env, who).tokenGeneration(who);
    const { token, exp } = await signToken(
      c.env.JWT_SECRET,
      { sub, app: c.var.app.name, typ: "mqtt", gen, ...(device_class ? { cls: device_class } : {}) },
      ttl_s ?? DEFAULT_MQTT_TTL_S,
    );
    return c.json({
      ret: "SUCCESS",
      data: {
        token,
        sub,
        expires_at: new Date(exp * 1000).toISOString(),
        ...(device_class ? { device_class } : {}),
      },
    });
  },
);
