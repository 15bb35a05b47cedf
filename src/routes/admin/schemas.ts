import { z } from "zod";
import { APP_NAME } from "../../lib/ids";
import { KEEPALIVE_LIMIT } from "../../mqtt/session/keepalive";

/** Payload limits: up to today's provider limit (4096 B for APNs and Android). */
const payloadLimit = z.number().int().min(64).max(4096);

/** Keepalive seconds: 1 .. 65535 (MQTT's two-byte Keep Alive). */
const keepaliveSeconds = z.number().int().min(1).max(KEEPALIVE_LIMIT);

/** `mqtt_keepalive` (docs/mqtt.md "Keepalive"): per device class, with a floor and a ceiling. */
export const keepaliveSettingsSchema = z
  .strictObject({
    phone: keepaliveSeconds.optional(),
    watch: keepaliveSeconds.optional(),
    default: keepaliveSeconds.optional(),
    min: keepaliveSeconds.optional(),
    max: keepaliveSeconds.optional(),
  })
  .refine((k) => k.min === undefined || k.max === undefined || k.min <= k.max, "min must not exceed max");

export const appSettingsSchema = z.strictObject({
  enabled: z.boolean().optional(),
  legacy_token: z.boolean().optional(),
  ios_payload_limit: payloadLimit.optional(),
  android_payload_limit: payloadLimit.optional(),
  push_rate_limit: z.number().int().min(1).max(100_000).optional(),
  /** null clears the setting (every client keeps its own keepalive). */
  mqtt_keepalive: keepaliveSettingsSchema.nullable().optional(),
  embed_msg_id: z.boolean().optional(),
  /** Delivery webhooks (CONTRACT §2); null switches them off. */
  callback_url: z
    .url({ protocol: /^https?$/, error: "callback_url must be an http(s) URL" })
    .max(2048)
    .nullable()
    .optional(),
});

export const createAppSchema = z.strictObject({
  name: z.string().regex(APP_NAME, "name must match ^[a-z][a-z0-9_-]{1,31}$"),
  ios_payload_limit: payloadLimit.optional(),
  android_payload_limit: payloadLimit.optional(),
});
