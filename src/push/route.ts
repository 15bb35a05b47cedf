import type { PushRequest } from "./request";

/**
 * Where a push goes (CONTRACT §2 "How a push reaches a user"), pure. Silent messages
 * (`display_type=message`, config pushes) go over MQTT only while the user's app is in the
 * foreground and connected; otherwise, and for notifications always, also to the providers.
 */
export const routeFor = (displayType: "notification" | "message", foreground: boolean) => ({
  mqtt: true,
  providers: !(displayType === "message" && foreground),
});

const LEVEL = /^[A-Za-z0-9_.:-]{1,64}$/;

const customObject = (custom: unknown): Record<string, unknown> | null => {
  if (custom !== null && typeof custom === "object" && !Array.isArray(custom))
    return custom as Record<string, unknown>;
  if (typeof custom === "string") {
    try {
      const v: unknown = JSON.parse(custom);
      if (v !== null && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // a plain string
    }
  }
  return null;
};

/** The last topic level: `custom.push_type` when custom is a JSON object with one, else `msg` (`config`). */
export const pushTypeOf = (req: Pick<PushRequest, "kind" | "custom" | "pushType">): string => {
  if (req.pushType && LEVEL.test(req.pushType)) return req.pushType;
  if (req.kind === "config") return "config";
  const t = customObject(req.custom)?.push_type;
  return typeof t === "string" && LEVEL.test(t) ? t : "msg";
};

/** The MQTT message body: `body.custom` for messages (JSON, or the string as sent), the whole `body` for notifications. */
export const mqttBody = (req: Pick<PushRequest, "displayType" | "custom" | "payload">): Uint8Array => {
  const enc = new TextEncoder();
  if (req.displayType === "notification") return enc.encode(JSON.stringify(req.payload.body ?? {}));
  return enc.encode(typeof req.custom === "string" ? req.custom : JSON.stringify(req.custom));
};

/** The data an app receives with a provider push: custom as JSON when it is JSON. */
export const providerData = (req: Pick<PushRequest, "custom">): unknown =>
  customObject(req.custom) ?? req.custom ?? null;
