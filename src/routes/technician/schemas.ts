import { z } from "zod";

/**
 * A form or JSON parameter read as text: strings trimmed, numbers as written, anything else empty.
 * `.optional()` because zod 4 refuses a missing key for a bare `unknown()` ("expected nonoptional"),
 * which would turn a missing parameter into a 500 instead of the call's own message.
 */
export const textParam = z
  .unknown()
  .optional()
  .transform((v) =>
    typeof v === "string" ? v.trim() : typeof v === "number" && Number.isFinite(v) ? String(v) : "",
  );

/** A password: taken exactly as sent (spaces count), numbers as written. */
const passwordParam = z
  .unknown()
  .optional()
  .transform((v) =>
    typeof v === "string" ? v : typeof v === "number" && Number.isFinite(v) ? String(v) : "",
  );

export const registerParams = z.object({ phone: textParam, password: passwordParam, verifySms: textParam });
export const loginParams = z.object({ phone: textParam, password: passwordParam });
export const resetParams = registerParams;
export const changePasswordParams = z.object({ oldPassword: passwordParam, newPassword: passwordParam });
export const verifySmsParams = z.object({ phone: textParam });
export const pushIdParams = z.object({ pushId: textParam });
/** `POST …/orders/:id/invitations`: the partner's technician id (the handler reads it as a number). */
export const invitationParams = z.object({ partnerId: textParam });

/** A text field: a string or null; anything else (a number, an object) is a format error, not zod's English. */
const textOrNull = (label: string) => z.union([z.string(), z.null()], { error: `${label}格式错误` });

const optionalText = (label: string, max: number) =>
  textOrNull(label)
    .transform((v) => (v === null || v.trim() === "" ? null : v.trim()))
    .refine((v) => v === null || v.length <= max, `${label}不能超过${max}个字符`)
    .optional();

/** A decimal number as JSON or form text (no hex, no exponent, no empty string). */
const DECIMAL = /^-?\d+(\.\d+)?$/;
const decimal = (message: string) =>
  z.union([z.number(), z.string().trim().regex(DECIMAL, message)], { error: message }).transform(Number);

/** 0–100, given as a number or a decimal string; null, "", booleans are refused. */
const level = (label: string) =>
  decimal(`${label}格式错误`)
    .pipe(z.number().int(`${label}格式错误`).min(0, `${label}格式错误`).max(100, `${label}格式错误`))
    .optional();

/** CONTRACT §4: PUT me; every field optional, `null` or "" clears a text field. */
export const profileParams = z.object({
  name: optionalText("姓名", 32),
  gender: optionalText("性别", 16),
  idNo: textOrNull("身份证号")
    .transform((v) => (v === null || v.trim() === "" ? null : v.trim().toUpperCase()))
    .refine((v) => v === null || /^(\d{15}|\d{17}[\dX])$/.test(v), "身份证号格式错误")
    .optional(),
  bank: optionalText("开户银行", 64),
  bankAddress: optionalText("开户行地址", 128),
  bankCardNo: textOrNull("银行卡号")
    .transform((v) => (v === null || v.trim() === "" ? null : v.replace(/\s+/g, "")))
    .refine((v) => v === null || /^\d{12,30}$/.test(v), "银行卡号格式错误")
    .optional(),
  skill: optionalText("技能", 256),
  resume: optionalText("简历", 2000),
  filmLevel: level("filmLevel"),
  filmWorkingSeniority: level("filmWorkingSeniority"),
  carCoverLevel: level("carCoverLevel"),
  carCoverWorkingSeniority: level("carCoverWorkingSeniority"),
  colorModifyLevel: level("colorModifyLevel"),
  colorModifyWorkingSeniority: level("colorModifyWorkingSeniority"),
  beautyLevel: level("beautyLevel"),
  beautyWorkingSeniority: level("beautyWorkingSeniority"),
});
export type ProfileInput = z.infer<typeof profileParams>;

/** Seed 001 §9's paging parameters: page from 1 (default 1), pageSize 1–100 (default 20). */
export const pagingParams = z.object({
  page: z.coerce.number({ error: "page格式错误" }).int("page格式错误").min(1, "page格式错误").default(1),
  pageSize: z.coerce
    .number({ error: "pageSize格式错误" })
    .int("pageSize格式错误")
    .min(1, "pageSize格式错误")
    .max(100, "pageSize格式错误")
    .default(20),
});

export const searchParams = pagingParams.extend({ query: textParam });

export const orderListParams = pagingParams.extend({
  scope: z.enum(["open", "mine"], { error: "scope格式错误" }).default("open"),
});

const required = (field: string) =>
  z
    .unknown()
    .refine((v) => v !== undefined && v !== null && String(v).trim() !== "", `${field}不能为空`)
    .transform((v) => String(v).trim());

const coordinate = (field: string, bound: number) =>
  required(field).pipe(
    z
      .string()
      .regex(DECIMAL, `${field}格式错误`)
      .transform(Number)
      .pipe(z.number().min(-bound, `${field}格式错误`).max(bound, `${field}格式错误`)),
  );

const optionalPlace = z
  .unknown()
  .optional()
  .transform((v) => (v === undefined || v === null || String(v).trim() === "" ? null : String(v).trim()))
  .refine((v) => v === null || v.length <= 64, "地址字段不能超过64个字符");

/** Seed 001 §10: lng, lat, province, city required; district, street, streetNumber optional. */
export const locationParams = z.object({
  lng: coordinate("lng", 180),
  lat: coordinate("lat", 90),
  province: required("province").refine((v) => v.length <= 64, "province不能超过64个字符"),
  city: required("city").refine((v) => v.length <= 64, "city不能超过64个字符"),
  district: optionalPlace,
  street: optionalPlace,
  streetNumber: optionalPlace,
});
export const LOCATION_FIELDS = [
  "lng",
  "lat",
  "province",
  "city",
  "district",
  "street",
  "streetNumber",
] as const;
