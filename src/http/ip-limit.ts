import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import type { AppError } from "../errors";

/** The client's public IP as Cloudflare's edge reports it; null for none or a loopback address. */
export function publicClientIp(headers: Headers): string | null {
  const ip = headers.get("cf-connecting-ip")?.trim();
  if (!ip || ip === "::1" || ip.startsWith("127.")) return null;
  return ip;
}

/**
 * Limits a route per client IP with a Workers Rate Limiting binding; over it, `fail()` (the
 * surface's own answer). Requests without a public client IP (local development) pass.
 */
export function perIpLimit(pick: (env: Env) => RateLimit, fail: () => AppError): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const ip = publicClientIp(c.req.raw.headers);
    if (ip) {
      const { success } = await pick(c.env).limit({ key: `${c.req.path}:${ip}` });
      if (!success) throw fail();
    }
    await next();
  };
}
