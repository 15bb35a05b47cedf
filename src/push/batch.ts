import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client";
import { apps, devices, tasks } from "../db/schema";
import { taskHub } from "../hubs/task-hub";
import type { Outcome } from "../hubs/task-store";
import { getCredentials } from "../services/credentials";
import type { TaskRow } from "../services/push-tasks";
import type { DeviceTarget } from "./audience";
import { admit, type Breaker, breakerFor, report } from "./breaker";
import { type DeliveryLimits, limitsOf, SEND_CONCURRENCY } from "./limits";
import { deviceRecipient, msgIdFor } from "./msg-id";
import { apnsProvider } from "./providers/apns";
import { fcmProvider } from "./providers/fcm";
import { getuiProvider } from "./providers/getui";
import type { PushJob, PushProvider, SendResult } from "./providers/types";
import { stablePushId } from "./push-id";
import type { PushRequest } from "./request";
import { providerData } from "./route";
import { type BatchMessage, batchKey, keysOf, type MqttMessage } from "./tasks";
import { providerName } from "./truth";

/**
 * What a batch run ends with: done (acked), or to retry after a delay (seconds, at least);
 * `requeue`: not a failure (the batch reached its deadline, or waited for its app's breaker), so
 * this message is queued again as a fresh one instead of using up a retry.
 */
export type BatchResult =
  | { done: true; complete: boolean }
  | { done: false; retryAfterS: number; requeue?: BatchMessage };

/**
 * Times a batch may be held back by its app's open breaker as a fresh message (its retries
 * untouched) before further holds use them up: with pauses of at most 6 T, about 20 minutes
 * of outage at the default T.
 */
export const MAX_DEFERRALS = 20;

function providerOf(env: Env, name: BatchMessage["provider"]): PushProvider<never> {
  if (name === "apns") return apnsProvider(env) as PushProvider<never>;
  if (name === "getui") return getuiProvider(env) as PushProvider<never>;
  return fcmProvider(env) as PushProvider<never>;
}

/**
 * Ends the open targets of a batch with a reason (failed ones are `target.failed` webhook
 * events of the task's app, written by the TaskHub with the change); answers whether the task
 * is complete.
 */
export async function closeBatch(
  env: Env,
  m: BatchMessage | MqttMessage,
  state: "failed" | "cancelled" | "expired",
  reason: string,
  detail: string,
): Promise<boolean> {
  const { channel, targets } = keysOf(m);
  const hub = taskHub(env, m.taskId);
  await hub.closeTargets(channel, targets, state, reason, detail);
  return hub.finishBatch(batchKey(m));
}

/** Cancelled or expired tasks, and apps without credentials, end their batches unsent. */
export async function unsendable(
  env: Env,
  task: TaskRow,
  m: BatchMessage | MqttMessage,
): Promise<BatchResult | null> {
  if (task.status === "cancelled") {
    const complete = await closeBatch(env, m, "cancelled", "CANCELLED", "cancelled by the partner");
    return { done: true, complete };
  }
  if (task.expireAt !== null && task.expireAt <= Date.now()) {
    const detail = "the task expired before it was sent";
    return { done: true, complete: await closeBatch(env, m, "expired", "EXPIRED", detail) };
  }
  return null;
}

function answerDetail(provider: string, job: PushJob, r: SendResult, limits: DeliveryLimits): string {
  const p = providerName(provider);
  const id = provider === "apns" ? `apns-id ${job.pushId}` : `request ${job.pushId}`;
  if (r.ok && r.duplicate)
    return `${p} already had ${id} from an attempt whose answer was lost; not sent again`;
  if (r.ok) return `${p} accepted it (${id})`;
  if (r.reason === "Timeout") return `${p} did not answer within ${limits.timeoutMs} ms (${id}); retrying`;
  if (r.retry) return `${p} answered ${r.reason} (${id}); retrying`;
  return `${p} answered ${r.reason} (${id})${r.removeDevice ? "; the device is unregistered" : ""}`;
}

/** The answers of a round, recorded before anything else happens (tried again twice at once). */
async function recordAnswers(env: Env, taskId: string, channel: string, outcomes: Outcome[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await taskHub(env, taskId).record(channel, outcomes);
      return;
    } catch (err) {
      if (attempt >= 2) throw err;
    }
  }
}

type Round = {
  env: Env;
  db: Db;
  task: TaskRow;
  m: BatchMessage;
  creds: never;
  req: PushRequest;
  limits: DeliveryLimits;
  breaker: Breaker;
};

/**
 * One round of at most SEND_CONCURRENCY sends, in parallel: claim them, send, feed the breaker,
 * record every answer (with its webhook events), then unregister dead devices. Answers since when
 * another run holds targets of the round, and the retry delay the provider asked for (null: no retry).
 */
async function sendRound(r: Round, part: DeviceTarget[]) {
  const { env, task, m, limits } = r;
  const claim = await taskHub(env, task.id).claim(
    m.provider,
    part.map((t) => t.token),
    Date.now() - limits.claimTtlMs,
  );
  const claimed = new Set(claim.claimed);
  const targets = part.filter((t) => claimed.has(t.token)); // others: answered, received first, or ended
  const provider = providerOf(env, m.provider);
  const jobs = await Promise.all(
    targets.map(
      async (t): Promise<PushJob> => ({
        deviceToken: t.token,
        platform: t.platform,
        silent: r.req.displayType === "message",
        title: r.req.title,
        body: r.req.text,
        payload: providerData(r.req),
        expiresAt: r.req.expireAt,
        pushId: await stablePushId(task.id, m.provider, t.token),
        msgId: msgIdFor(task.id, deviceRecipient(t)),
      }),
    ),
  );
  const results = await Promise.all(jobs.map((job) => provider.send(job, r.creds)));
  report(r.breaker, limits.breaker, results, Date.now());
  const outcomes: Outcome[] = [];
  const dead: string[] = [];
  let retryAfter: number | null = null;
  results.forEach((res, i) => {
    const job = jobs[i] as PushJob;
    const target = job.deviceToken;
    const detail = answerDetail(m.provider, job, res, limits);
    if (res.ok) outcomes.push({ target, state: "sent", reason: null, detail });
    else if (res.retry) {
      outcomes.push({ target, state: "pending", reason: res.reason, detail });
      retryAfter = Math.max(retryAfter ?? 0, res.retryAfterS ?? 0);
    } else {
      outcomes.push({ target, state: "failed", reason: res.reason, detail, removed: res.removeDevice });
      if (res.removeDevice) dead.push(target);
    }
  });
  // The TaskHub writes the failures' webhook events (target.failed, device.dead) with them.
  if (outcomes.length) await recordAnswers(env, task.id, m.provider, outcomes);
  if (dead.length)
    await r.db.delete(devices).where(and(eq(devices.appId, task.appId), inArray(devices.deviceToken, dead)));
  return { heldSince: claim.heldSince, retryAfter: retryAfter as number | null };
}

/** Whole seconds for a queue delay, at least 1. */
export const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * A batch of one provider's devices, sent in rounds of SEND_CONCURRENCY (each round claimed and
 * recorded on its own, so a run that dies mid-batch leaves at most one round in doubt). A
 * duplicate delivery of the message, or a target a receipt reached first, finds nothing to
 * claim. The app's breaker for the provider may hold the batch back, or stop it mid-way; past
 * its deadline the batch hands the rest back to the queue.
 */
export async function runBatch(env: Env, db: Db, task: TaskRow, m: BatchMessage): Promise<BatchResult> {
  const ended = await unsendable(env, task, m);
  if (ended) return ended;
  const app = await db.query.apps.findFirst({ where: eq(apps.id, task.appId) });
  const creds = app ? await getCredentials<never>(db, env.CREDENTIALS_KEY, app.id, m.provider) : null;
  if (!app || !creds) {
    const detail = `the app has no ${providerName(m.provider)} credentials`;
    return { done: true, complete: await closeBatch(env, m, "failed", "NO_CREDENTIALS", detail) };
  }
  const limits = limitsOf(env);
  const breaker = breakerFor(task.appId, m.provider);
  const started = Date.now();
  const gate = admit(breaker, limits.breaker, started);
  if (!gate.ok) {
    const deferred = m.deferred ?? 0;
    const requeue = deferred < MAX_DEFERRALS ? { ...m, deferred: deferred + 1 } : undefined;
    return { done: false, retryAfterS: seconds(gate.waitMs), ...(requeue ? { requeue } : {}) };
  }
  const req = JSON.parse(task.request) as PushRequest;
  const round: Round = { env, db, task, m, creds, req, limits, breaker };
  let retryAfter: number | null = null;
  let heldSince: number | null = null;
  let handBack = false;
  for (let i = 0; i < m.targets.length; i += SEND_CONCURRENCY) {
    if (breaker.openedAt >= started) break; // the provider keeps failing for this app
    if (Date.now() - started >= limits.deadlineMs) {
      handBack = true;
      break;
    }
    const r = await sendRound(round, m.targets.slice(i, i + SEND_CONCURRENCY));
    if (r.retryAfter !== null) retryAfter = Math.max(retryAfter ?? 0, r.retryAfter);
    if (r.heldSince !== null) heldSince = Math.max(heldSince ?? 0, r.heldSince);
  }
  // Opened during this batch: what is left comes back when the pause ends (and may probe).
  if (breaker.openedAt >= started)
    retryAfter = Math.max(retryAfter ?? 0, seconds(breaker.openUntil - Date.now()));
  if (retryAfter !== null) return { done: false, retryAfterS: retryAfter };
  // Targets another run claimed: look again once that claim has gone stale.
  if (heldSince !== null)
    return { done: false, retryAfterS: seconds(heldSince + limits.claimTtlMs - Date.now()) };
  if (handBack) {
    console.warn(
      `push: a ${m.provider} batch of task ${task.id} reached its deadline; the rest is queued again`,
    );
    return { done: false, retryAfterS: 0, requeue: m };
  }
  return { done: true, complete: await taskHub(env, task.id).finishBatch(batchKey(m)) };
}

/** The task of a queue message, or null when it is gone. */
export async function taskOf(db: Db, taskId: string): Promise<TaskRow | null> {
  return (await db.query.tasks.findFirst({ where: eq(tasks.id, taskId) })) ?? null;
}
