import { z } from "zod";
import { IDENTIFIER } from "../../lib/ids";
import { DEVICE_CLASSES } from "../../mqtt/session/keepalive";
import { STATES } from "../../push/truth";

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

/** `POST …/users/:user_id/kick` `{client_id?}`: one MQTT client id, or every connection. */
export const kickSchema = z.strictObject({
  client_id: z.string().min(1).max(256).optional(),
});

export const presenceQuery = z.object({ user_id: identifier });

const taskId = z.string().min(1).max(64);
/** Device tokens: APNs hex, Getui cids, FCM tokens (the push request's pattern). */
const deviceToken = z.string().regex(/^[A-Za-z0-9:_.-]{1,256}$/, "is not a device token");

/** `GET /psp/push/targets` (CONTRACT §2 "Delivery truth"): limit 1–500, default 100. */
export const targetsQuery = z.object({
  task_id: taskId,
  state: z.enum(STATES).optional(),
  cursor: z
    .string()
    .regex(/^\d{1,15}$/, "is not a cursor from next_cursor")
    .optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** `GET /psp/push/trace`: one of device_token and user_id. */
export const traceQuery = z
  .object({ task_id: taskId, device_token: deviceToken.optional(), user_id: identifier.optional() })
  .refine((q) => (q.device_token === undefined) !== (q.user_id === undefined), {
    message: "give device_token or user_id (one of them)",
    path: ["device_token"],
  });
