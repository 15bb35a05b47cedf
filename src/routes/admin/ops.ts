import { adminFail } from "../../errors";
import { api, route } from "../../http/openapi";
import { opsEnabled, opsSnapshot, resetOps } from "../../lib/ops";

/**
 * `/api/admin/ops` (docs/admin-api.md "Operation counters", docs/cost.md): the billed operations
 * this isolate counted. Only with COUNT_OPS = "1"; otherwise 404. These calls are not counted.
 */
export const adminOps = api();

const requireCounting = (env: Env) => {
  if (!opsEnabled(env))
    throw adminFail(404, "not_found", 'operation counters are off (the Worker var COUNT_OPS is not "1")');
};

route(
  adminOps,
  "admin",
  {
    method: "get",
    path: "/",
    summary: "Billed operations counted in this isolate since the last reset (COUNT_OPS = 1 only)",
    description:
      "Worker requests, Durable Object requests and active time, SQLite and D1 rows, queue messages. " +
      "Under `wrangler dev` the Worker and its Durable Objects share one isolate, so this is everything. " +
      "404 `not_found` when COUNT_OPS is not `1`.",
  },
  (c) => {
    requireCounting(c.env);
    return c.json(opsSnapshot());
  },
);
route(
  adminOps,
  "admin",
  {
    method: "delete",
    path: "/",
    summary: "Answers the counters, then starts them again from zero (COUNT_OPS = 1 only)",
  },
  (c) => {
    requireCounting(c.env);
    const snapshot = opsSnapshot();
    resetOps();
    return c.json(snapshot);
  },
);
