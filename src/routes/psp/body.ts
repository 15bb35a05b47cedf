import type { Context } from "hono";
import type { z } from "zod";
import { pspFail } from "../../errors";
import { parseJsonObject } from "../../http/body";

/** Reads a psp JSON body (2008 when it is not JSON) and validates it (400, code 1001 unless the schema says). */
export const pspBody = async <T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> => {
  const body = parseJsonObject(await c.req.text());
  if (!body) throw pspFail(400, 2008, "the body is not a valid JSON object");
  return pspParse(schema, body);
};

export const pspParse = <T extends z.ZodType>(schema: T, value: unknown): z.infer<T> => {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join(".") || "body";
    throw pspFail(400, 1001, `${field}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
};

/** Validates a psp query string; `sign` belongs to authentication and is left out. */
export const pspQuery = <T extends z.ZodType>(c: Context, schema: T): z.infer<T> => {
  const { sign: _, ...query } = c.req.query();
  return pspParse(schema, query);
};
