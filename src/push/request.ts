import { z } from "zod";
import { IDENTIFIER } from "../lib/ids";

/**
 * A partner push request (seed 003 + CONTRACT §2), validated in the order of CONTRACT §2's
 * error table. Pure: no runtime imports.
 */
export type SendType = "unicast" | "listcast" | "groupcast" | "broadcast" | "customizedcast";
export const SEND_TYPES: readonly SendType[] = [
  "unicast",
  "listcast",
  "groupcast",
  "broadcast",
  "customizedcast",
];

export type Audience =
  | { type: "unicast" | "listcast"; tokens: string[] }
  | { type: "customizedcast"; aliases: string[] }
  | { type: "groupcast"; groupId: string }
  | { type: "broadcast" };

export type PushRequest = {
  kind: "msg" | "config";
  audience: Audience;
  /** notification: alert with title; message: silent (content-available). Config pushes are messages. */
  displayType: "notification" | "message";
  /** The `payload` object exactly as sent (its size is what the limits measure). */
  payload: Record<string, unknown>;
  title?: string;
  text?: string;
  /** `body.custom` (message) or the config string. */
  custom?: unknown;
  productionMode: boolean;
  startAt?: number;
  expireAt?: number;
  outBizNo?: string;
  description?: string;
  tag?: string;
  /** Internal pushes only (technician events): the MQTT topic's last level, e.g. `NEW_ORDER`. */
  pushType?: string;
};

export type RequestError = { status: 400; code: number; message: string };

const fail = (code: number, message: string): RequestError => ({ status: 400, code, message });

/** Device tokens: APNs hex, Getui cids, FCM tokens (letters, digits, `:_-.`). */
const TOKEN = /^[A-Za-z0-9:_.-]{1,256}$/;
const MAX_TARGETS = 500;
const SEVEN_DAYS = 7 * 24 * 3600 * 1000;

const list = (v: unknown) =>
  typeof v === "string"
    ? v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : Array.isArray(v)
      ? v.map((s) => String(s).trim()).filter(Boolean)
      : [];

const boolish = z.union([z.boolean(), z.enum(["true", "false"]).transform((s) => s === "true")]);

/** `yyyy-MM-dd HH:mm:ss` is UTC+8 (Umeng); anything else must be ISO 8601 with its zone. */
export const parseTime = (v: unknown): number | null => {
  if (typeof v !== "string") return null;
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(v.trim());
  if (m) {
    const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
    const t = Date.UTC(y as number, (mo as number) - 1, d, h, mi, s) - 8 * 3600 * 1000;
    return Number.isNaN(t) ? null : t;
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v.trim())) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
};

const audienceOf = (body: Record<string, unknown>, type: SendType): Audience | RequestError => {
  if (type === "unicast" || type === "listcast") {
    const tokens = list(body.device_tokens);
    if (tokens.length === 0) return fail(1015, `${type} needs device_tokens`);
    if (tokens.length > MAX_TARGETS) return fail(2015, "at most 500 device tokens");
    if (type === "unicast" && tokens.length > 1)
      return fail(1015, "unicast takes one device token; use listcast");
    const bad = tokens.find((t) => !TOKEN.test(t));
    if (bad) return fail(1001, `device token ${JSON.stringify(bad.slice(0, 80))} is not valid`);
    return { type, tokens: [...new Set(tokens)] };
  }
  if (type === "customizedcast") {
    const aliases = list(body.alias);
    if (aliases.length === 0) return fail(2009, "customizedcast needs alias");
    if (aliases.length > MAX_TARGETS) return fail(2015, "at most 500 aliases");
    const bad = aliases.find((a) => !IDENTIFIER.test(a));
    if (bad)
      return fail(1001, `alias ${JSON.stringify(bad.slice(0, 80))} must match ^[A-Za-z0-9_.:-]{1,64}$`);
    return { type, aliases: [...new Set(aliases)] };
  }
  if (type === "groupcast") {
    const groupId = body.group_id === undefined || body.group_id === null ? "" : String(body.group_id);
    if (!groupId) return fail(2016, "groupcast needs group_id");
    if (!IDENTIFIER.test(groupId)) return fail(1001, "group_id must match ^[A-Za-z0-9_.:-]{1,64}$");
    return { type, groupId };
  }
  return { type: "broadcast" };
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** Validates a push body. `now` in ms. */
export const parsePushRequest = (
  body: Record<string, unknown>,
  kind: "msg" | "config",
  now: number,
): PushRequest | RequestError => {
  if (body.type === undefined || body.type === null || body.type === "") return fail(1016, "type is missing");
  const type = z.enum(SEND_TYPES as [SendType, ...SendType[]]).safeParse(body.type);
  if (!type.success)
    return fail(2048, "type must be unicast, listcast, groupcast, broadcast or customizedcast");
  const audience = audienceOf(body, type.data);
  if ("code" in audience) return audience;

  const payload = body.payload;
  if (!isObject(payload)) return fail(1001, "payload is missing or not an object");
  let displayType: PushRequest["displayType"] = "message";
  let title: string | undefined;
  let text: string | undefined;
  let custom: unknown;
  if (kind === "msg") {
    if (payload.display_type === undefined || payload.display_type === null)
      return fail(1004, "display_type is missing");
    if (payload.display_type !== "notification" && payload.display_type !== "message") {
      return fail(1019, "display_type must be notification or message");
    }
    displayType = payload.display_type;
    const b = isObject(payload.body) ? payload.body : {};
    if (displayType === "notification") {
      if (typeof b.title !== "string" || b.title.trim() === "")
        return fail(1009, "a notification needs body.title");
      title = b.title;
      text = typeof b.text === "string" ? b.text : undefined;
      custom = b.custom;
    } else {
      if (b.custom === undefined || b.custom === null || b.custom === "")
        return fail(1003, "a message needs body.custom");
      custom = b.custom;
    }
  } else {
    if (typeof payload.body !== "string" || payload.body === "")
      return fail(1001, "payload.body must be the config string");
    custom = payload.body;
  }

  const pm = payload.production_mode ?? body.production_mode;
  const production = pm === undefined ? { success: true as const, data: true } : boolish.safeParse(pm);
  if (!production.success) return fail(1001, 'production_mode must be true, false, "true" or "false"');

  const policy = isObject(body.policy) ? body.policy : {};
  if (body.policy !== undefined && !isObject(body.policy)) return fail(1001, "policy must be an object");
  let startAt: number | undefined;
  if (policy.start_time !== undefined) {
    const t = parseTime(policy.start_time);
    if (t === null || t <= now || t > now + SEVEN_DAYS) {
      return fail(2002, "policy.start_time must be in the future and at most 7 days ahead");
    }
    startAt = t;
  }
  let expireAt: number | undefined;
  if (policy.expire_time !== undefined) {
    const t = parseTime(policy.expire_time);
    const from = startAt ?? now;
    if (t === null || t <= from || t > from + SEVEN_DAYS) {
      return fail(
        2003,
        "policy.expire_time must be after the start time and now, and at most 7 days after it",
      );
    }
    expireAt = t;
  }
  const outBizNo = policy.out_biz_no === undefined ? undefined : String(policy.out_biz_no);
  if (outBizNo !== undefined && (outBizNo === "" || outBizNo.length > 64)) {
    return fail(1001, "policy.out_biz_no must be 1 to 64 characters");
  }
  const str = (v: unknown) => (typeof v === "string" ? v.slice(0, 256) : undefined);
  return {
    kind,
    audience,
    displayType,
    payload,
    title,
    text,
    custom,
    productionMode: production.data,
    startAt,
    expireAt,
    outBizNo,
    description: str(payload.description),
    tag: str(payload.tag),
  };
};

/** CONTRACT §2: the UTF-8 length of `payload` serialised as compact JSON. */
export const payloadSize = (payload: unknown): number =>
  new TextEncoder().encode(JSON.stringify(payload)).byteLength;
