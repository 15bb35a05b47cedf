import type { Context } from "hono";
import type { z } from "zod";

/** Parses a JSON object body; `undefined` when the body is not valid JSON or not an object. */
export const parseJsonObject = (text: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The parameters of a technician call: a JSON object body, or a form (urlencoded or multipart)
 * body, as seed 001's clients send either. Anything unreadable reads as no parameters, so the
 * call answers with its own "…不能为空" / format message.
 */
export const readParams = async (c: Context): Promise<Record<string, unknown>> => {
  const type = c.req.header("content-type") ?? "";
  if (type.includes("application/x-www-form-urlencoded") || type.includes("multipart/form-data")) {
    try {
      return await c.req.parseBody();
    } catch {
      return {};
    }
  }
  const text = await c.req.text();
  return text.trim() === "" ? {} : (parseJsonObject(text) ?? {});
};

/** The first issue's message of each failing field, in the schema's field order, joined with ',' (seed 001). */
export const joinedIssues = (error: z.ZodError, order: readonly string[]): string => {
  const byField = new Map<string, string>();
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? "");
    if (!byField.has(field)) byField.set(field, issue.message);
  }
  const ordered = order.filter((f) => byField.has(f)).map((f) => byField.get(f));
  const rest = [...byField.entries()].filter(([f]) => !order.includes(f)).map(([, m]) => m);
  return [...ordered, ...rest].join(",");
};
