import { z } from "zod";
import { AppError } from "../../errors";
import { api, route } from "../../http/openapi";
import { adminBody, adminQuery } from "../../http/validate";
import { userHub } from "../../hubs/common";
import { IDENTIFIER } from "../../lib/ids";
import { signToken } from "../../lib/jwt";
import { requireApp } from "../../services/apps";
import { configuredProviders } from "../../services/credentials";
import { taskTargets, traceTarget } from "../../services/delivery";
import { membersQuery } from "../../services/lists";
import { submitPush } from "../../services/push-submit";
import { findTask, taskStatus } from "../../services/push-tasks";
import { pushBodyDoc, targetsQuery, traceQuery } from "../psp/schemas";
import { membersPage } from "./lists";

/** Admin names for the partner codes the shared services throw (CONTRACT §2). */
const ADMIN_CODES: Record<number, string> = {
  1014: "task_not_found",
  3001: "group_not_found",
  3002: "target_not_found",
  2022: "payload_too_large",
  2050: "rate_limited",
};

/**
 * Runs a shared partner service and answers its failures in the admin envelope:
 * `{"error": "<name>", "message": "... (code N)", "code": N}` with the same HTTP status.
 */
const asAdmin = async <T>(work: () => Promise<T>): Promise<T> => {
  try {
    return await work();
  } catch (err) {
    if (err instanceof AppError && typeof err.code === "number") {
      const name = ADMIN_CODES[err.code] ?? "invalid_parameter";
      throw new AppError(err.status, name, `${err.message} (code ${err.code})`, err.options);
    }
    throw err;
  }
};

/** The partner queries of GET /psp/push/targets and /trace, with the task id in the path. */
const { task_id: _, ...targetFields } = targetsQuery.shape;
const targetsAdminQuery = z.strictObject(targetFields);
const { task_id: __, ...traceFields } = traceQuery.shape;
const traceAdminQuery = z
  .strictObject(traceFields)
  .refine((q) => (q.device_token === undefined) !== (q.user_id === undefined), {
    message: "give device_token or user_id (one of them)",
    path: ["device_token"],
  });

/** Console tokens are short-lived: one hour unless asked otherwise, at most a day. */
const CONSOLE_TOKEN_TTL_S = 3600;
const consoleTokenSchema = z.strictObject({
  sub: z.string().regex(IDENTIFIER, "must match ^[A-Za-z0-9_.:-]{1,64}$"),
  ttl_s: z.number().int().min(60).max(86_400).optional(),
});

/**
 * What the console needs that only `/psp` offered (docs/admin-api.md "Console"): test pushes,
 * task status, targets and traces, an MQTT token for the live tail, a group's live members and
 * an app's configured providers. Each reuses the partner surface's service.
 */
export const adminConsole = api();
route(
  adminConsole,
  "admin",
  {
    method: "get",
    path: "/{appkey}/credentials",
    summary: "Which provider credentials an app has (console)",
  },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    return c.json({ appkey: app.appkey, providers: await configuredProviders(c.var.db, app.id) });
  },
);
route(
  adminConsole,
  "admin",
  {
    method: "post",
    path: "/{appkey}/push",
    summary: "A test push from the console: the same path as POST /psp/push/msg; answers 201 {task_id}",
    body: pushBodyDoc,
    status: 201,
  },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    const text = await c.req.text();
    const taskId = await asAdmin(() => submitPush(c, app, "msg", text));
    return c.json({ task_id: taskId }, 201);
  },
);
route(
  adminConsole,
  "admin",
  { method: "get", path: "/{appkey}/tasks/{task_id}", summary: "A task's status (as GET /psp/push/status)" },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    return c.json(
      await asAdmin(async () => taskStatus(c.env, await findTask(c.var.db, app, c.req.param("task_id")))),
    );
  },
);
route(
  adminConsole,
  "admin",
  {
    method: "get",
    path: "/{appkey}/tasks/{task_id}/targets",
    summary: "A task's targets (as GET /psp/push/targets)",
    query: targetsAdminQuery,
  },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    const q = adminQuery(c, targetsAdminQuery);
    return c.json(
      await asAdmin(async () => taskTargets(c.env, await findTask(c.var.db, app, c.req.param("task_id")), q)),
    );
  },
);
route(
  adminConsole,
  "admin",
  {
    method: "get",
    path: "/{appkey}/tasks/{task_id}/trace",
    summary: "One target's timeline (as GET /psp/push/trace)",
    query: traceAdminQuery,
  },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    const q = adminQuery(c, traceAdminQuery);
    const by = q.device_token !== undefined ? { deviceToken: q.device_token } : { userId: q.user_id ?? "" };
    return c.json(
      await asAdmin(async () =>
        traceTarget(c.env, await findTask(c.var.db, app, c.req.param("task_id")), by),
      ),
    );
  },
);
route(
  adminConsole,
  "admin",
  {
    method: "post",
    path: "/{appkey}/mqtt-token",
    summary: "An MQTT token of one user for the console's live tail (1 h, at most a day)",
    body: consoleTokenSchema,
    status: 201,
  },
  async (c) => {
    const app = await requireApp(c.var.db, c.req.param("appkey"));
    const { sub, ttl_s } = await adminBody(c, consoleTokenSchema);
    // An ordinary MQTT token of that user (the same as POST /psp/mqtt/token): its rights are
    // the user's own topics and its groups' topics, nothing of the rest of the app.
    const who = { app: app.name, id: sub };
    const gen = await userHub(c.env, who).tokenGeneration(who);
    const { token, exp } = await signToken(
      c.env.JWT_SECRET,
      { sub, app: app.name, typ: "mqtt", gen },
      ttl_s ?? CONSOLE_TOKEN_TTL_S,
    );
    return c.json({ token, sub, app: app.name, expires_at: new Date(exp * 1000).toISOString() }, 201);
  },
);
route(
  adminConsole,
  "admin",
  {
    method: "get",
    path: "/{appkey}/groups/{group_id}/presence",
    summary: "A group's members with their presence",
    query: membersQuery,
  },
  async (c) => {
    const { app, groupId, page } = await membersPage(c);
    const items = await Promise.all(
      page.items.map(async (m) => {
        const who = { app: app.name, id: m.user_id };
        return { ...m, ...(await userHub(c.env, who).presence(who)) };
      }),
    );
    return c.json({ group_id: groupId, items, next_cursor: page.next_cursor });
  },
);
