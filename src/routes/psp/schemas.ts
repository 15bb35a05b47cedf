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

/**
 * The push body as OpenAPI shows it. The handler validates with parsePushRequest (src/push/request.ts),
 * step by step in the order of CONTRACT §2's error table, so that each mistake gets its own code;
 * this schema describes that body and is not used to validate.
 */
export const pushBodyDoc = z.object({
  type: z.enum(["unicast", "listcast", "groupcast", "broadcast", "customizedcast"]),
  device_tokens: z.string().optional().describe("unicast: one token; listcast: comma-separated, at most 500"),
  alias: z.string().optional().describe("customizedcast: a user id (comma-separated, at most 500)"),
  group_id: identifier.optional().describe("groupcast: the group and every sub-group"),
  production_mode: z.union([z.boolean(), z.enum(["true", "false"])]).optional(),
  description: z.string().optional(),
  payload: z.object({
    display_type: z.enum(["notification", "message"]),
    production_mode: z.union([z.boolean(), z.enum(["true", "false"])]).optional(),
    body: z.looseObject({
      title: z.string().optional().describe("notification: required"),
      text: z.string().optional(),
      custom: z
        .unknown()
        .optional()
        .describe(
          "message: required; its push_type names the MQTT topic's last level; config: the config string",
        ),
    }),
  }),
  policy: z
    .object({
      start_time: z
        .string()
        .optional()
        .describe("yyyy-MM-dd HH:mm:ss (UTC+8) or ISO 8601; at most 7 days ahead"),
      expire_time: z.string().optional(),
      out_biz_no: z
        .string()
        .max(64)
        .optional()
        .describe("idempotency key: the same value answers the first task_id"),
    })
    .optional(),
});
