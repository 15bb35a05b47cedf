/**
 * Structured logs: one JSON object per line, `level` and `msg` first. Callers pass only what is
 * safe to log: never a body, a header value, a query string, a password, a token or a key.
 */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export function logLine(level: "info" | "warn" | "error", msg: string, fields: LogFields = {}): void {
  const line = JSON.stringify({ level, msg, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

/** An error's name and message (never its cause chain or stack, which may quote inputs). */
export const errorText = (err: unknown) =>
  err instanceof Error ? `${err.name}: ${err.message}` : String(err);
