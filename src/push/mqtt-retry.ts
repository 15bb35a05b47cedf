import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { apps } from "../db/schema";
import { taskHub } from "../hubs/task-hub";
import type { Outcome } from "../hubs/task-store";
import type { TaskRow } from "../services/push-tasks";
import { type BatchResult, closeBatch, seconds, unsendable } from "./batch";
import { limitsOf } from "./limits";
import { errorText, mqttMessageOf, publishedDetail, publishTo } from "./publish";
import type { PushRequest } from "./request";
import { batchKey, type MqttMessage } from "./tasks";

/**
 * MQTT publishes whose hub call failed: published again. A hub that still fails keeps its
 * topic pending and the message is retried with backoff; after the last retry the dead-letter
 * queue records it as failed (HUB_UNAVAILABLE). Never counted as sent before a hub took it.
 */
export async function runMqtt(env: Env, db: Db, task: TaskRow, m: MqttMessage): Promise<BatchResult> {
  const ended = await unsendable(env, task, m);
  if (ended) return ended;
  const app = await db.query.apps.findFirst({ where: eq(apps.id, task.appId) });
  if (!app)
    return {
      done: true,
      complete: await closeBatch(env, m, "failed", "NO_APP", "the app is gone"),
    };
  const hub = taskHub(env, task.id);
  const limits = limitsOf(env);
  const claim = await hub.claim("mqtt", m.topics, Date.now() - limits.claimTtlMs);
  const topics = claim.claimed;
  const req = JSON.parse(task.request) as PushRequest;
  const results = await Promise.allSettled(
    topics.map((t) => publishTo(env, app, mqttMessageOf(req, t, task.id, app))),
  );
  const outcomes: Outcome[] = results.map((r, i) => {
    const topic = topics[i] as string;
    if (r.status === "fulfilled") {
      const isGroup = topic.startsWith(`${app.name}/group/`);
      return {
        target: topic,
        state: "sent",
        reason: null,
        reached: r.value.delivered,
        detail: publishedDetail(topic, r.value, isGroup),
      };
    }
    const reason = `HUB_ERROR: ${errorText(r.reason)}`;
    return {
      target: topic,
      state: "pending",
      reason,
      detail: `the hub call failed again (${reason}); retrying`,
    };
  });
  if (outcomes.length) await hub.record("mqtt", outcomes);
  if (outcomes.some((o) => o.state === "pending")) return { done: false, retryAfterS: 0 };
  if (claim.heldSince !== null)
    return { done: false, retryAfterS: seconds(claim.heldSince + limits.claimTtlMs - Date.now()) };
  return { done: true, complete: await hub.finishBatch(batchKey(m)) };
}
