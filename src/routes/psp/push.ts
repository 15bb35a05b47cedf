import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../../env";
import { pspFail } from "../../errors";
import { taskTargets, traceTarget } from "../../services/delivery";
import { submitPush } from "../../services/push-submit";
import { cancelTask, findTask, taskStatus } from "../../services/push-tasks";
import { pspBody, pspParse } from "./body";
import { targetsQuery, traceQuery } from "./schemas";

const push = (kind: "msg" | "config") => async (c: import("hono").Context<AppEnv>) => {
  const taskId = await submitPush(c, c.var.app, kind, await c.req.text());
  return c.json({ ret: "SUCCESS", data: { task_id: taskId } });
};

const taskIdSchema = z.strictObject({ task_id: z.string().min(1).max(64) });

/** CONTRACT §2 / seed 003: pushes and their tasks. Delivery happens behind the queue. */
export const pspPush = new Hono<AppEnv>()
  .post("/msg", push("msg"))
  .post("/config", push("config"))
  .get("/status", async (c) => {
    const taskId = c.req.query("task_id");
    if (!taskId) throw pspFail(400, 1001, "task_id is missing");
    const task = await findTask(c.var.db, c.var.app, taskId);
    return c.json({ ret: "SUCCESS", data: await taskStatus(c.env, task) });
  })
  .get("/targets", async (c) => {
    const q = pspParse(targetsQuery, c.req.query());
    const task = await findTask(c.var.db, c.var.app, q.task_id);
    return c.json({ ret: "SUCCESS", data: await taskTargets(c.env, task, q) });
  })
  .get("/trace", async (c) => {
    const q = pspParse(traceQuery, c.req.query());
    const task = await findTask(c.var.db, c.var.app, q.task_id);
    const by = q.device_token !== undefined ? { deviceToken: q.device_token } : { userId: q.user_id ?? "" };
    return c.json({ ret: "SUCCESS", data: await traceTarget(c.env, task, by) });
  })
  .post("/cancel", async (c) => {
    const { task_id } = await pspBody(c, taskIdSchema);
    const task = await findTask(c.var.db, c.var.app, task_id);
    await cancelTask(c.var.db, task);
    return c.json({ ret: "SUCCESS", data: { task_id, status: "cancelled" } });
  });
