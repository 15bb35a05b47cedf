import { and, eq } from "drizzle-orm";
import { z } from "zod";
import { devices } from "../../db/schema";
import { pspFail } from "../../errors";
import { api, route } from "../../http/openapi";
import { pspBody } from "./body";
import { identifier } from "./schemas";

export const DEVICE_TOKEN = /^[A-Za-z0-9:_.-]{1,256}$/;

const deviceSchema = z
  .strictObject({
    device_token: z.string().regex(DEVICE_TOKEN, "letters, digits and :_.- only, at most 256"),
    platform: z.enum(["ios", "android"]),
    provider: z.enum(["apns", "getui", "fcm"]),
    user_id: identifier.nullable().optional(),
  })
  .refine((d) => d.provider !== "apns" || d.platform === "ios", "apns devices are ios devices");

/** CONTRACT §2: devices. Re-registering a token moves it (platform, provider, user). */
export const pspDevices = api();
route(
  pspDevices,
  "psp",
  { method: "post", path: "/", summary: "Register (or re-register) a device", body: deviceSchema },
  async (c) => {
    const d = await pspBody(c, deviceSchema);
    const values = {
      platform: d.platform,
      provider: d.provider,
      userId: d.user_id ?? null,
      updatedAt: Date.now(),
    };
    await c.var.db
      .insert(devices)
      .values({ appId: c.var.app.id, deviceToken: d.device_token, ...values })
      .onConflictDoUpdate({ target: [devices.appId, devices.deviceToken], set: values });
    return c.json({
      ret: "SUCCESS",
      data: {
        device_token: d.device_token,
        platform: d.platform,
        provider: d.provider,
        user_id: d.user_id ?? null,
      },
    });
  },
);
route(
  pspDevices,
  "psp",
  {
    method: "delete",
    path: "/{device_token}",
    summary: "Unregister a device (404, code 3002, when unknown)",
  },
  async (c) => {
    const token = c.req.param("device_token");
    const gone = await c.var.db
      .delete(devices)
      .where(and(eq(devices.appId, c.var.app.id), eq(devices.deviceToken, token)))
      .returning({ t: devices.deviceToken });
    if (gone.length === 0) throw pspFail(404, 3002, "unknown device token");
    return c.json({ ret: "SUCCESS", data: { device_token: token } });
  },
);
