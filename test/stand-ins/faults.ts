import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * Network faults in front of every stand-in (tests only), so that a provider that hangs or
 * answers late can be shown without changing what the provider itself says:
 *
 * - `POST /_faults {path, header?: [name, value], body?, mode: "hang"|"late", ms?, count?}`:
 *   requests whose path starts with `path` (and that carry the header, and whose body contains
 *   the `body` text, when given) are held without an answer ("hang"), or handled as usual and
 *   answered `ms` later ("late": the provider took the request, its answer comes after the client
 *   gave up). `count` limits how many (default all).
 * - `POST /_faults/clear {path, header?, body?}`: ends the rule; held requests are dropped (sockets closed).
 * - `GET /_faults/held?path=&body=` (rules without a header; `body` when the rule has one): `{held, matched}`.
 */
type Rule = {
  path: string;
  header?: [string, string];
  /** Text the request body must contain (e.g. one test's phone number on a shared path). */
  body?: string;
  mode: "hang" | "late";
  ms: number;
  count: number;
  held: ServerResponse[];
  matched: number;
};

const keyOf = (path: string, header?: string[], body?: string) =>
  JSON.stringify(body === undefined ? [path, header ?? null] : [path, header ?? null, body]);

export const createFaults = () => {
  const rules = new Map<string, Rule>();

  const matching = (req: IncomingMessage, url: URL, body: string): Rule | undefined => {
    for (const r of rules.values()) {
      if (!url.pathname.startsWith(r.path) || r.count <= 0) continue;
      if (r.header && req.headers[r.header[0].toLowerCase()] !== r.header[1]) continue;
      if (r.body !== undefined && !body.includes(r.body)) continue;
      return r;
    }
    return undefined;
  };

  /** Delays whatever the stand-in writes by `ms` (writeHead and end are chained by the stand-ins). */
  const late = (res: ServerResponse, ms: number) => {
    const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
    const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
    let head: unknown[] = [200];
    res.writeHead = ((...a: unknown[]) => {
      head = a;
      return res;
    }) as typeof res.writeHead;
    res.end = ((...a: unknown[]) => {
      setTimeout(() => {
        if (res.destroyed || res.writableEnded) return;
        writeHead(...head);
        end(...a);
      }, ms);
      return res;
    }) as typeof res.end;
  };

  const control = (req: IncomingMessage, res: ServerResponse, url: URL, body: string): boolean => {
    if (!url.pathname.startsWith("/_faults")) return false;
    const input = (req.method === "POST" ? JSON.parse(body || "{}") : {}) as Record<string, unknown>;
    if (url.pathname === "/_faults/held") {
      const r = rules.get(
        keyOf(url.searchParams.get("path") ?? "", undefined, url.searchParams.get("body") ?? undefined),
      );
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ held: r?.held.length ?? 0, matched: r?.matched ?? 0 }));
      return true;
    }
    const path = String(input.path ?? "");
    const header = Array.isArray(input.header)
      ? [String(input.header[0]), String(input.header[1])]
      : undefined;
    const bodyText = typeof input.body === "string" ? input.body : undefined;
    const key = keyOf(path, header, bodyText);
    if (url.pathname === "/_faults/clear") {
      for (const held of rules.get(key)?.held ?? []) held.destroy();
      rules.delete(key);
    } else {
      rules.set(key, {
        path,
        header: header as [string, string] | undefined,
        ...(bodyText === undefined ? {} : { body: bodyText }),
        mode: input.mode === "late" ? "late" : "hang",
        ms: Number(input.ms ?? 0),
        count: input.count === undefined ? Number.POSITIVE_INFINITY : Number(input.count),
        held: [],
        matched: 0,
      });
    }
    res.writeHead(204).end();
    return true;
  };

  /** Answers whether the request is held (nothing else may answer it). */
  const intercept = (req: IncomingMessage, res: ServerResponse, url: URL, body: string): boolean => {
    const rule = matching(req, url, body);
    if (!rule) return false;
    rule.count -= 1;
    rule.matched += 1;
    if (rule.mode === "late") {
      late(res, rule.ms);
      return false;
    }
    rule.held.push(res);
    return true;
  };

  return { control, intercept };
};
