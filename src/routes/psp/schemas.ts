import { z } from "zod";
import { IDENTIFIER } from "../../lib/ids";
import { DEVICE_CLASSES } from "../../mqtt/session/keepalive";

export const identifier = z.string().regex(IDENTIFIER, "must match ^[A-Za-z0-9_.:-]{1,64}$");

export const groupSchema = z.strictObject({
  name: z.string().max(128).nullable().optional(),
  parent_id: identifier.nullable().optional(),
});

export const membersSchema = z
  .strictObject({
    add: z.array(identifier).max(500).optional(),
    remove: z.array(identifier).max(500).optional(),
  })
  .refine(
    (v) => (v.add?.length ?? 0) + (v.remove?.length ?? 0) > 0,
    "add or remove must name at least one user",
  );

/** MQTT tokens live 30 days unless asked otherwise, at most a year. */
export const DEFAULT_MQTT_TTL_S = 30 * 24 * 3600;
export const mqttTokenSchema = z.strictObject({
  sub: identifier,
  ttl_s: z
    .number()
    .int()
    .min(60)
    .max(365 * 24 * 3600)
    .optional(),
  /** Chooses the app's keepalive for this device (admin `mqtt_keepalive`). */
  device_class: z.enum(DEVICE_CLASSES).optional(),
});

export const presenceQuery = z.object({ user_id: identifier });
