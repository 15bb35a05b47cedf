import type { Context } from "hono";
import type { z } from "zod";
import { adminFail } from "../errors";
import { parseJsonObject } from "./body";

/** Reads and validates an admin JSON body; any failure is a 400 naming the field. */
export const adminBody = async <T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> => {
  const body = parseJsonObject(await c.req.text());
  if (!body) throw adminFail(400, "invalid_json", "the body must be a JSON object");
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join(".") || "body";
    throw adminFail(400, "invalid_parameter", `${field}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
};

/** Validates an admin query string; any failure is a 400 naming the parameter. */
export const adminQuery = <T extends z.ZodType>(c: Context, schema: T): z.infer<T> => {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join(".") || "query";
    throw adminFail(400, "invalid_parameter", `${field}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
};
