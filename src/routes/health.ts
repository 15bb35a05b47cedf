import { z } from "zod";
import { api, route } from "../http/openapi";

type Check = { ok: boolean; error?: string };

async function check(work: () => Promise<unknown>): Promise<Check> {
  try {
    await work();
    return { ok: true };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * `GET /healthz`: D1 answers a query, R2 answers a lookup, the delivery queue, its dead-letter queue
 * and the webhook queue are bound. 200 when all pass, 503 naming each that failed.
 */
export const healthRoute = api();
route(
  healthRoute,
  "public",
  {
    method: "get",
    path: "/",
    summary: "D1, R2 and the queues: 200 when all pass, 503 naming each that failed",
    ok: z.object({
      status: z.enum(["ok", "fail"]),
      failed: z.array(z.string()),
      checks: z.record(z.string(), z.object({ ok: z.boolean(), error: z.string().optional() })),
    }),
  },
  async (c) => {
    const checks = {
      d1: await check(() => c.env.DB.prepare("SELECT 1").first()),
      r2: await check(() => c.env.UPLOADS.head("healthz/probe")),
      queue: await check(async () => {
        const queues = {
          PUSH_QUEUE: c.env.PUSH_QUEUE,
          PUSH_DLQ: c.env.PUSH_DLQ,
          WEBHOOK_QUEUE: c.env.WEBHOOK_QUEUE,
        };
        for (const [name, q] of Object.entries(queues)) {
          if (typeof q?.send !== "function") throw new Error(`${name} is not bound`);
        }
      }),
    };
    const failed = Object.entries(checks)
      .filter(([, v]) => !v.ok)
      .map(([k]) => k);
    return c.json({ status: failed.length ? "fail" : "ok", failed, checks }, failed.length ? 503 : 200);
  },
);
