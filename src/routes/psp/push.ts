import type { Context } from "hono";
import { z } from "zod";
import type { AppEnv } from "../../env";
import { pspFail } from "../../errors";
import { api, route } from "../../http/openapi";
import { armWatchdog } from "../../hubs/task-watchdog";
import { errorText, logLine } from "../../lib/log";
import { taskTargets, traceTarget } from "../../services/delivery";
import { submitPush } from "../../services/push-submit";
import { cancelTask, findTask, taskStatus } from "../../services/push-tasks";
import { pspBody, pspParse } from "./body";
import { pushBodyDoc, targetsQuery, traceQuery } from "./schemas";

const push = (kind: "msg" | "config") => async (c: Context<AppEnv>) => {
  const taskId = await submitPush(c, c.var.app, kind, await c.req.text());
  return c.json({ ret: "SUCCESS", data: { task_id: taskId } });
};

const taskIdSchema = z.strictObject({ task_id: z.string().min(1).max(64) });

/** CONTRACT §2 / seed 003: pushes and their tasks. Delivery happens behind the queue. */
const statusQuery = z.object({ task_id: z.string().min(1) });
const taskIdData = z.object({ task_id: z.string() });

export const pspPush = api();
route(
  pspPush,
  "psp",
  {
    method: "post",
    path: "/msg",
    summary: "Push a notification or a message (seed 003); answers {task_id} at once",
    description: "Delivery happens behind a queue. Errors follow CONTRACT §2's table, checked in its order.",
    body: pushBodyDoc,
    ok: taskIdData,
  },
  push("msg"),
);
route(
  pspPush,
  "psp",
  {
    method: "post",
    path: "/config",
    summary: "Config push: same targeting, payload.body is the config string; delivered silently",
    body: pushBodyDoc,
    ok: taskIdData,
  },
  push("config"),
);
route(
  pspPush,
  "psp",
  { method: "get", path: "/status", summary: "A task's status and counts", query: statusQuery },
  async (c) => {
    const taskId = c.req.query("task_id");
    if (!taskId) throw pspFail(400, 1001, "task_id is missing");
    const task = await findTask(c.var.db, c.var.app, taskId);
    return c.json({ ret: "SUCCESS", data: await taskStatus(c.env, task) });
  },
);
route(
  pspPush,
  "psp",
  { method: "get", path: "/targets", summary: "A task's targets and their states", query: targetsQuery },
  async (c) => {
    const q = pspParse(targetsQuery, c.req.query());
    const task = await findTask(c.var.db, c.var.app, q.task_id);
    return c.json({ ret: "SUCCESS", data: await taskTargets(c.env, task, q) });
  },
);
route(
  pspPush,
  "psp",
  {
    method: "get",
    path: "/trace",
    summary: "One target's events, and why it is not received",
    query: traceQuery,
  },
  async (c) => {
    const q = pspParse(traceQuery, c.req.query());
    const task = await findTask(c.var.db, c.var.app, q.task_id);
    const by = q.device_token !== undefined ? { deviceToken: q.device_token } : { userId: q.user_id ?? "" };
    return c.json({ ret: "SUCCESS", data: await traceTarget(c.env, task, by) });
  },
);
route(
  pspPush,
  "psp",
  { method: "post", path: "/cancel", summary: "Cancel what is not yet sent", body: taskIdSchema },
  async (c) => {
    const { task_id } = await pspBody(c, taskIdSchema);
    const task = await findTask(c.var.db, c.var.app, task_id);
    await cancelTask(c.var.db, task);
    // Targets a lost queue message would have ended are ended by the watchdog (src/push/resume.ts).
    c.executionCtx.waitUntil(
      armWatchdog(c.env).catch((err) =>
        logLine("error", `cancel: arming the task watchdog failed: ${errorText(err)}`, {
          request_id: c.get("requestId"),
        }),
      ),
    );
    return c.json({ ret: "SUCCESS", data: { task_id, status: "cancelled" } });
  },
);
