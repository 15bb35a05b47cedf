import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../../env";
import { pspFail } from "../../errors";
import { parseJsonObject } from "../../http/body";
import { parsePushRequest } from "../../push/request";
import { requireGroup } from "../../services/groups";
import { cancelTask, checkPayloadLimits, createTask, findTask, taskStatus } from "../../services/push-tasks";
import { pspBody } from "./body";

const push = (kind: "msg" | "config") => async (c: import("hono").Context<AppEnv>) => {
  const body = parseJsonObject(await c.req.text());
  if (!body) throw pspFail(400, 2008, "the body is not a valid JSON object");
  const now = Date.now();
  const req = parsePushRequest(body, kind, now);
  if ("code" in req) throw pspFail(req.status, req.code, req.message);
  // CONTRACT §2: 404 for an unknown group, not a task.
  if (req.audience.type === "groupcast") await requireGroup(c.var.db, c.var.app.id, req.audience.groupId);
  await checkPayloadLimits(c.var.db, c.var.app, req);
  const taskId = await createTask(c.var.db, c.env.PUSH_QUEUE, c.var.app, req, now, { rateLimited: true });
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
    return c.json({ ret: "SUCCESS", data: await taskStatus(c.var.db, task) });
  })
  .post("/cancel", async (c) => {
    const { task_id } = await pspBody(c, taskIdSchema);
    const task = await findTask(c.var.db, c.var.app, task_id);
    await cancelTask(c.var.db, task);
    return c.json({ ret: "SUCCESS", data: { task_id, status: "cancelled" } });
  });
