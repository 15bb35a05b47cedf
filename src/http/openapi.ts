import { createRoute, OpenAPIHono, type RouteConfig, z } from "@hono/zod-openapi";
import type { Handler, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";

/**
 * Every route is declared once, with `createRoute` (@hono/zod-openapi): the same declaration
 * registers the Hono route and its OpenAPI operation, so /openapi.json cannot miss a route. The
 * request schemas in a declaration are the zod objects its handler validates with; the handler
 * validates them itself (pspBody, adminBody, readParams …), so that each surface keeps its own
 * error envelope and messages exactly (the library's validators would answer in its own words).
 */
export type Api = OpenAPIHono<AppEnv>;
export const api = (): Api => new OpenAPIHono<AppEnv>();

export type Surface = "admin" | "psp" | "technician" | "technician-public" | "public";

export type Op = {
  method: "get" | "post" | "put" | "delete";
  /** OpenAPI form: `/apps/{appkey}`. */
  path: string;
  summary: string;
  description?: string;
  /** A JSON body (technician: JSON, urlencoded or multipart, as seed 001's clients send). */
  body?: z.ZodType;
  /** A multipart upload with one `file`. */
  upload?: boolean;
  query?: z.ZodObject;
  /** Path parameters; the ones not given are plain strings. */
  params?: Record<string, z.ZodType>;
  /** The success answer: for psp the `data` of the envelope, for the technician API its `message` / `data`. */
  ok?: z.ZodType;
  status?: 200 | 201 | 101;
  /** The technician API's upload / location envelope `{result, message, error, data}`. */
  envelope?: "result";
  /** Extra error statuses of this call (admin 409). */
  errors?: number[];
  /** Instead of the surface's own (the MQTT upgrade, ID photos). */
  security?: RouteConfig["security"];
};

// ---------------------------------------------------------------------------------------------
// Envelopes

export const ADMIN_ERROR_CODES = [
  "unauthorized",
  "invalid_json",
  "invalid_parameter",
  "bad_request",
  "app_not_found",
  "app_exists",
  "group_not_found",
  "technician_not_found",
  "task_not_found",
  "target_not_found",
  "payload_too_large",
  "rate_limited",
  "body_too_large",
  "not_found",
  "internal_error",
] as const;

const adminErrorSchema = z
  .object({ error: z.enum(ADMIN_ERROR_CODES), message: z.string() })
  .openapi("AdminError");

/** CONTRACT §2's code table, and the project's own codes (3001, 3002, 4004), with their HTTP status. */
export const PSP_CODES: [code: number, status: number, meaning: string][] = [
  [2001, 401, "no appkey (X-Appkey missing)"],
  [2052, 401, "no timestamp (X-Timestamp missing)"],
  [2036, 401, "timestamp is not a number of milliseconds"],
  [2007, 401, "neither validation token nor sign"],
  [2021, 401, "unknown appkey"],
  [2000, 403, "app disabled"],
  [2006, 401, "validation token does not match, or the legacy token is switched off for this app"],
  [2027, 401, "sign does not match"],
  [2029, 401, "sign already used (a replayed request)"],
  [2028, 401, "timestamp more than 10 minutes off"],
  [2008, 400, "body is not valid JSON"],
  [1016, 400, "`type` missing"],
  [2048, 400, "`type` not one of unicast, listcast, groupcast, broadcast, customizedcast"],
  [1015, 400, "unicast / listcast without `device_tokens`"],
  [2009, 400, "customizedcast without `alias`"],
  [2016, 400, "groupcast without `group_id`"],
  [2015, 400, "more than 500 device tokens or aliases"],
  [1001, 400, "`payload` missing or not an object; any other invalid parameter"],
  [1004, 400, "`display_type` missing"],
  [1019, 400, "`display_type` not notification / message"],
  [1009, 400, "notification without `body.title`"],
  [1003, 400, "message without `body.custom`"],
  [2022, 413, "payload over the app's limit for a target platform, or the body over 256 KiB"],
  [2002, 400, "`policy.start_time` not in the future, or more than 7 days ahead"],
  [2003, 400, "`policy.expire_time` not after start time and now, or more than 7 days after it"],
  [1014, 404, "unknown task_id"],
  [3001, 404, "unknown group"],
  [3002, 404, "unknown device token"],
  [4004, 404, "no such API"],
  [1028, 400, "the task can no longer be cancelled"],
  [2050, 429, "rate limited (with Retry-After)"],
  [4000, 500, "internal error"],
];

const pspErrorSchema = z
  .object({
    ret: z.literal("FAIL"),
    data: z.object({
      error_code: z.union(PSP_CODES.map(([code]) => z.literal(code))),
      error_msg: z.string(),
    }),
  })
  .openapi("PspError");

const pspOk = (data: z.ZodType) => z.object({ ret: z.literal("SUCCESS"), data });

const accountOk = (message: z.ZodType) => z.object({ status: z.literal(true), message });
const accountFailSchema = z
  .object({ status: z.literal(false), message: z.string() })
  .openapi("TechnicianAccountFail");
const resultOk = (data: z.ZodType) =>
  z.object({ result: z.literal(true), message: z.string(), error: z.string().nullable(), data });
const resultFailSchema = z
  .object({
    result: z.literal(false),
    message: z.string(),
    error: z
      .string()
      .describe("INVALID_PARAMETER, TOO_FREQUENT_REQUEST, NO_UPLOAD_FILE, UPLOAD_SIZE_EXCEED, …"),
    data: z.null(),
  })
  .openapi("TechnicianResultFail");

const json = (schema: z.ZodType, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

const STATUS_TEXT: Record<number, string> = {
  400: "Bad request",
  401: "Not authenticated",
  403: "Forbidden (disabled app, banned account)",
  404: "Not found",
  406: "Upload over 2 MB",
  409: "Conflict",
  413: "Body too large",
  429: "Rate limited",
  500: "Server fault",
};

const pspCodes = (status: number) =>
  PSP_CODES.filter(([, s]) => s === status)
    .map(([code, , meaning]) => `\`${code}\` ${meaning}`)
    .join("; ");

const responses = (op: Op, surface: Surface): RouteConfig["responses"] => {
  const status = String(op.status ?? 200);
  const out: RouteConfig["responses"] = {};
  const ok = op.ok ?? z.looseObject({});
  switch (surface) {
    case "admin":
      out[status] = json(ok, "Success");
      for (const s of [400, 401, 404, 413, 500, ...(op.errors ?? [])]) {
        out[String(s)] = json(adminErrorSchema, `${STATUS_TEXT[s]}: \`{error, message}\``);
      }
      break;
    case "psp":
      out[status] = json(pspOk(ok), 'Seed 003\'s envelope `{"ret":"SUCCESS","data":{…}}`');
      for (const s of [400, 401, 403, 404, 413, 429, 500]) {
        out[String(s)] = json(pspErrorSchema, `${STATUS_TEXT[s]}. error_code: ${pspCodes(s)}`);
      }
      break;
    case "technician":
    case "technician-public": {
      const success = op.envelope === "result" ? resultOk(ok) : accountOk(ok);
      const failure = op.envelope === "result" ? resultFailSchema : accountFailSchema;
      out[status] = json(
        z.union([success, failure]),
        "Seed 001's envelope: HTTP 200 also for a refused call (`status` / `result` false, a Chinese message)",
      );
      const statuses = surface === "technician" ? [401, 403, 413, 500] : [413, 500];
      if (op.upload) statuses.push(406);
      for (const s of statuses) {
        const body = s === 406 ? resultFailSchema : accountFailSchema;
        out[String(s)] = json(
          body,
          s === 401 ? '`{"status": false, "message": "未登录"}`' : `${STATUS_TEXT[s]}`,
        );
      }
      break;
    }
    case "public":
      out[status] = op.ok ? json(op.ok, "Success") : { description: "Success" };
      break;
  }
  return out;
};

// ---------------------------------------------------------------------------------------------
// Security (the schemes are in src/openapi.ts)

const SECURITY: Record<Surface, RouteConfig["security"]> = {
  admin: [{ adminBearer: [] }],
  psp: [
    { pspAppkey: [], pspTimestamp: [], pspSign: [] },
    { pspAppkey: [], pspTimestamp: [], pspValidationToken: [] },
  ],
  technician: [{ technicianCookie: [] }, { technicianBearer: [] }],
  "technician-public": [],
  public: [],
};

const TAGS: Record<Surface, string> = {
  admin: "admin",
  psp: "psp",
  technician: "technician",
  "technician-public": "technician",
  public: "platform",
};

const FORM_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"];

/** The OpenAPI declaration of one operation. */
export const declare = (surface: Surface, op: Op): RouteConfig => {
  const names = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
  const params = names.length
    ? z.object(Object.fromEntries(names.map((n) => [n, op.params?.[n] ?? z.string()])))
    : undefined;
  const bodyTypes = surface.startsWith("technician") ? FORM_TYPES : ["application/json"];
  const body = op.upload
    ? z.object({ file: z.string().describe("the image (png, jpg, gif, webp, heic), at most 2 MB") })
    : op.body;
  const content = (types: string[], schema: z.ZodType) =>
    Object.fromEntries(types.map((t) => [t, { schema }]));
  return createRoute({
    method: op.method,
    path: op.path,
    tags: [TAGS[surface]],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    security: op.security ?? SECURITY[surface],
    request: {
      ...(params ? { params } : {}),
      ...(op.query ? { query: op.query } : {}),
      ...(body ? { body: { content: content(op.upload ? ["multipart/form-data"] : bodyTypes, body) } } : {}),
    },
    responses: responses(op, surface),
  });
};

/** `/apps/{appkey}` as Hono writes it, `/apps/:appkey`, so that handlers read typed params. */
type HonoPath<P extends string> = P extends `${infer A}{${infer N}}${infer B}`
  ? `${A}:${N}${HonoPath<B>}`
  : P;

/**
 * Declares one operation on `router`: its OpenAPI operation and its Hono route (the `{param}`
 * path as `:param`), with the handlers as they were.
 */
export const route = <P extends string>(
  router: Api,
  surface: Surface,
  op: Op & { path: P },
  ...handlers: [...MiddlewareHandler<AppEnv>[], Handler<AppEnv, HonoPath<P>>]
) => {
  router.openAPIRegistry.registerPath(declare(surface, op));
  router.on(
    op.method.toUpperCase(),
    op.path.replaceAll(/\{(\w+)\}/g, ":$1"),
    ...(handlers as [Handler<AppEnv>]),
  );
  return router;
};
