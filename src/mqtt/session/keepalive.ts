import type { ProtocolVersion } from "../codec/types";

/** Device classes a token can name (`POST /psp/mqtt/token {device_class}`). */
export const DEVICE_CLASSES = ["phone", "watch"] as const;
export type DeviceClass = (typeof DEVICE_CLASSES)[number];

/**
 * An app's keepalive settings (seconds, admin API `mqtt_keepalive`): the keepalive the server
 * wants per device class (`default` for tokens without one), and a floor and a ceiling for
 * every client's value.
 */
export type KeepaliveSettings = {
  phone?: number;
  watch?: number;
  default?: number;
  min?: number;
  max?: number;
};

/** What one connection is held to: the server's preferred value (if any) and the bounds. */
export type KeepalivePolicy = { preferred?: number; min: number; max: number };

/** Keep Alive is a two-byte field [MQTT-3.1.2.10]. */
export const KEEPALIVE_LIMIT = 65535;

/** No settings: every client keeps the keepalive it asked for. */
export const OPEN_POLICY: KeepalivePolicy = { min: 1, max: KEEPALIVE_LIMIT };

export function isDeviceClass(v: unknown): v is DeviceClass {
  return typeof v === "string" && (DEVICE_CLASSES as readonly string[]).includes(v);
}

/** The policy for a token of device class `cls` (or none) under an app's settings. */
export function keepalivePolicy(
  settings: KeepaliveSettings | null | undefined,
  cls?: DeviceClass,
): KeepalivePolicy {
  if (!settings) return OPEN_POLICY;
  const min = settings.min ?? OPEN_POLICY.min;
  const max = Math.max(min, settings.max ?? OPEN_POLICY.max);
  const preferred = (cls ? settings[cls] : undefined) ?? settings.default;
  return preferred === undefined ? { min, max } : { preferred, min, max };
}

/**
 * The keepalive a connection is held to (the server closes it after 1.5 × that without a
 * packet) and, for MQTT 5, the Server Keep Alive to put in CONNACK when it differs from what
 * the client asked [MQTT-3.2.2-21/22].
 *
 * - A client asking 0 (no keepalive) is left at 0.
 * - MQTT 5: the class's preferred value (else the client's), clamped to [min, max].
 * - MQTT 3.1.1 has no Server Keep Alive, so the client cannot be told another value: its own
 *   is enforced, raised to the floor (a client pinging more often than the floor is never cut
 *   early), and neither the ceiling nor the class value applies (enforcing a shorter timeout
 *   than the client's own would cut a healthy connection).
 */
export function negotiateKeepalive(
  policy: KeepalivePolicy,
  asked: number,
  version: ProtocolVersion,
): { keepalive: number; serverKeepAlive?: number } {
  if (asked === 0) return { keepalive: 0 };
  if (version !== 5) return { keepalive: Math.max(asked, policy.min) };
  const wanted = policy.preferred ?? asked;
  const keepalive = Math.min(Math.max(wanted, policy.min), policy.max);
  return keepalive === asked ? { keepalive } : { keepalive, serverKeepAlive: keepalive };
}
