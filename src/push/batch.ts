import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client";
import { apps, devices, tasks } from "../db/schema";
import { taskHub } from "../hubs/task-hub";
import type { Outcome } from "../hubs/task-store";
import { getCredentials } from "../services/credentials";
import type { TaskRow } from "../services/push-tasks";
import { deviceRecipient, msgIdFor } from "./msg-id";
import { apnsProvider } from "./providers/apns";
import { fcmProvider } from "./providers/fcm";
import { getuiProvider } from "./providers/getui";
import type { PushJob, PushProvider, SendResult } from "./providers/types";
import { errorText, mqttMessageOf, publishedDetail, publishTo } from "./publish";
import type { PushRequest } from "./request";
import { providerData } from "./route";
import { type BatchMessage, batchKey, keysOf, type MqttMessage } from "./tasks";
import { providerName } from "./truth";
import { emitEvents, emitForApp, nowIso, type WebhookEvent } from "./webhooks";

/** How long a claimed target stays claimed before another attempt may take it. */
const CLAIM_TTL_MS = 5 * 60_000;

/** What a batch run ends with: done (acked), or to retry after a delay (seconds, at least). */
export type BatchResult = { done: true; complete: boolean } | { done: false; retryAfterS: number };

function providerOf(env: Env, name: BatchMessage["provider"]): PushProvider<never> {
  if (name === "apns") return apnsProvider(env) as PushProvider<never>;
  if (name === "getui") return getuiProvider(env) as PushProvider<never>;
  return fcmProvider(env) as PushProvider<never>;
}

/**
 * Ends the open targets of a batch with a reason (failed ones are `target.failed` webhook
 * events of the task's app); answers whether the task is complete.
 */
export async function closeBatch(
  env: Env,
  db: Db,
  task: Pick<TaskRow, "id" | "appId">,
  m: BatchMessage | MqttMessage,
  state: "failed" | "cancelled" | "expired",
  reason: string,
  detail: string,
): Promise<boolean> {
  const { channel, targets } = keysOf(m);
  const hub = taskHub(env, m.taskId);
  const closed = await hub.closeTargets(channel, targets, state, reason, detail);
  if (state === "failed") {
    const at = nowIso();
    await emitForApp(
      env,
      db,
      task.appId,
      closed.map((c) => ({
        type: "target.failed" as const,
        at,
        task_id: task.id,
        msg_id: c.msgId,
        ...(channel === "mqtt" ? {} : { device_token: c.target }),
        reason,
      })),
    );
  }
  return hub.finishBatch(batchKey(m));
}

/** Cancelled or expired tasks, and apps without credentials, end their batches unsent. */
async function unsendable(
  env: Env,
  db: Db,
  task: TaskRow,
  m: BatchMessage | MqttMessage,
): Promise<BatchResult | null> {
  if (task.status === "cancelled") {
    const complete = await closeBatch(env, db, task, m, "cancelled", "CANCELLED", "cancelled by the partner");
    return { done: true, complete };
  }
  if (task.expireAt !== null && task.expireAt <= Date.now()) {
    const detail = "the task expired before it was sent";
    return { done: true, complete: await closeBatch(env, db, task, m, "expired", "EXPIRED", detail) };
  }
  return null;
}

function answerDetail(provider: string, job: PushJob, r: SendResult): string {
  const p = providerName(provider);
  const id = provider === "apns" ? `apns-id ${job.pushId}` : `request ${job.pushId}`;
  if (r.ok) return `${p} accepted it (${id})`;
  if (r.retry) return `${p} answered ${r.reason} (${id}); retrying`;
  return `${p} answered ${r.reason} (${id})${r.removeDevice ? "; the device is unregistered" : ""}`;
}

/**
 * A batch of one provider's devices: claim its pending targets (a duplicate delivery of the
 * message, or a target a receipt reached first, finds nothing to claim), send each once, record
 * every answer in the TaskHub, unregister dead devices in D1.
 */
export async function runBatch(env: Env, db: Db, task: TaskRow, m: BatchMessage): Promise<BatchResult> {
  const ended = await unsendable(env, db, task, m);
  if (ended) return ended;
  const app = await db.query.apps.findFirst({ where: eq(apps.id, task.appId) });
  const creds = app ? await getCredentials<never>(db, env.CREDENTIALS_KEY, app.id, m.provider) : null;
  if (!creds) {
    const detail = `the app has no ${providerName(m.provider)} credentials`;
    return { done: true, complete: await closeBatch(env, db, task, m, "failed", "NO_CREDENTIALS", detail) };
  }
  const hub = taskHub(env, task.id);
  const now = Date.now();
  const claimed = new Set(await hub.claim(m.provider, keysOf(m).targets, now - CLAIM_TTL_MS));
  const req = JSON.parse(task.request) as PushRequest;
  const provider = providerOf(env, m.provider);
  const outcomes: Outcome[] = [];
  const dead: string[] = [];
  const events: WebhookEvent[] = [];
  let retryAfter: number | null = null;
  for (const t of m.targets) {
    if (!claimed.has(t.token)) continue; // already answered, received first, or ended
    const job: PushJob = {
      deviceToken: t.token,
      platform: t.platform,
      silent: req.displayType === "message",
      title: req.title,
      body: req.text,
      payload: providerData(req),
      expiresAt: req.expireAt,
      pushId: crypto.randomUUID(),
      msgId: msgIdFor(task.id, deviceRecipient(t)),
    };
    const r = await provider.send(job, creds);
    const detail = answerDetail(m.provider, job, r);
    if (r.ok) outcomes.push({ target: t.token, state: "sent", reason: null, detail });
    else if (r.retry) {
      outcomes.push({ target: t.token, state: "pending", reason: r.reason, detail });
      retryAfter = Math.max(retryAfter ?? 0, r.retryAfterS ?? 0);
    } else {
      outcomes.push({ target: t.token, state: "failed", reason: r.reason, detail, removed: r.removeDevice });
      const at = nowIso();
      const e = { at, task_id: task.id, msg_id: job.msgId, device_token: t.token, reason: r.reason };
      events.push({ type: "target.failed", ...e });
      if (r.removeDevice) {
        dead.push(t.token);
        events.push({ type: "device.dead", ...e });
      }
    }
  }
  if (outcomes.length) await hub.record(m.provider, outcomes);
  if (dead.length)
    await db.delete(devices).where(and(eq(devices.appId, task.appId), inArray(devices.deviceToken, dead)));
  if (app) await emitEvents(env, app, events);
  if (retryAfter !== null) return { done: false, retryAfterS: retryAfter };
  return { done: true, complete: await hub.finishBatch(batchKey(m)) };
}

/**
 * MQTT publishes whose hub call failed: published again. A hub that still fails keeps its
 * topic pending and the message is retried with backoff; after the last retry the dead-letter
 * queue records it as failed (HUB_UNAVAILABLE). Never counted as sent before a hub took it.
 */
export async function runMqtt(env: Env, db: Db, task: TaskRow, m: MqttMessage): Promise<BatchResult> {
  const ended = await unsendable(env, db, task, m);
  if (ended) return ended;
  const app = await db.query.apps.findFirst({ where: eq(apps.id, task.appId) });
  if (!app)
    return {
      done: true,
      complete: await closeBatch(env, db, task, m, "failed", "NO_APP", "the app is gone"),
    };
  const hub = taskHub(env, task.id);
  const topics = await hub.claim("mqtt", m.topics, Date.now() - CLAIM_TTL_MS);
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
  return { done: true, complete: await hub.finishBatch(batchKey(m)) };
}

/** The task of a queue message, or null when it is gone. */
export async function taskOf(db: Db, taskId: string): Promise<TaskRow | null> {
  return (await db.query.tasks.findFirst({ where: eq(tasks.id, taskId) })) ?? null;
}
