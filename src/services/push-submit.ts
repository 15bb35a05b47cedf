import type { Context } from "hono";
import type { AppRow } from "../db/schema";
import type { AppEnv } from "../env";
import { pspFail } from "../errors";
import { parseJsonObject } from "../http/body";
import { countAccepted } from "../hubs/metrics";
import { armWatchdog } from "../hubs/task-watchdog";
import { errorText, logLine } from "../lib/log";
import { parsePushRequest } from "../push/request";
import { requireGroup } from "./groups";
import { checkPayloadLimits, createTask } from "./push-tasks";

/**
 * Accepts one push for `app` (seed 003's body as text): validates it, creates its task and queues
 * it, counts it in the metrics and arms the task watchdog. `POST /psp/push/msg` and `/config`
 * and the admin console's `POST /api/admin/apps/:appkey/push` all come here; failures are
 * thrown as partner errors (CONTRACT §2 codes), which the admin route translates.
 */
export async function submitPush(
  c: Context<AppEnv>,
  app: AppRow,
  kind: "msg" | "config",
  text: string,
): Promise<string> {
  const body = parseJsonObject(text);
  if (!body) throw pspFail(400, 2008, "the body is not a valid JSON object");
  const now = Date.now();
  const req = parsePushRequest(body, kind, now);
  if ("code" in req) throw pspFail(req.status, req.code, req.message);
  // CONTRACT §2: 404 for an unknown group, not a task.
  if (req.audience.type === "groupcast") await requireGroup(c.var.db, app.id, req.audience.groupId);
  await checkPayloadLimits(c.var.db, app, req);
  const taskId = await createTask(c.var.db, c.env.PUSH_QUEUE, app, req, now, { rateLimited: true });
  // Counted in the isolate's batch, sent off the answer's path.
  countAccepted(c.env, c.executionCtx, app.name);
  // Should the task's queue message be lost, the watchdog re-queues it (off the answer's path).
  c.executionCtx.waitUntil(
    armWatchdog(c.env).catch((err) =>
      logLine("error", `push: arming the task watchdog failed: ${errorText(err)}`, {
        request_id: c.get("requestId"),
      }),
    ),
  );
  return taskId;
}
