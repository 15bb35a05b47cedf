import { inArray } from "drizzle-orm";
import { createDb } from "../db/client";
import { type AppRow, apps } from "../db/schema";
import { toHex } from "../lib/crypto";
import { masterSecretOf } from "../services/apps";
import { timeoutMs } from "./providers/http";

/**
 * Delivery webhooks (CONTRACT §2 "Delivery truth"): the platform POSTs
 * `{events: [{type, at, task_id?, msg_id?, device_token?, reason?, counts?}]}` to the app's
 * `callback_url`, signed `X-Signature: hex(HMAC-SHA256(app_master_secret, X-Timestamp + "." + body))`.
 * Events leave through their own queue (WEBHOOK_QUEUE): a push only enqueues them, so an
 * endpoint that is slow or down never holds a push up. Every event is written to its task's
 * TaskHub outbox together with the state change it reports, and sent from there
 * (src/hubs/task-outbox.ts), so a failed queue send loses nothing: events are at-least-once,
 * and partners dedupe them by type, task_id and msg_id. The consumer batches the messages of an
 * app into one POST, retries with backoff until a 2xx, then the dead-letter queue drops them.
 */
export type WebhookEvent = {
  type: "task.finished" | "target.failed" | "device.dead";
  at: string;
  task_id?: string;
  msg_id?: string;
  device_token?: string;
  reason?: string;
  counts?: Record<string, number>;
};
export type WebhookMessage = { appId: number; events: WebhookEvent[] };

/** Events per POST at most (messages of one app are merged up to this). */
export const MAX_EVENTS = 500;

/** Queues events for the app's webhook, when it has one. */
export async function emitEvents(env: Env, app: Pick<AppRow, "id" | "callbackUrl">, events: WebhookEvent[]) {
  if (!app.callbackUrl || events.length === 0) return;
  for (let i = 0; i < events.length; i += MAX_EVENTS) {
    const message: WebhookMessage = { appId: app.id, events: events.slice(i, i + MAX_EVENTS) };
    await env.WEBHOOK_QUEUE.send(message);
  }
}

async function signature(secret: string, timestamp: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return toHex(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${timestamp}.${body}`)));
}

/**
 * One signed POST; answers whether the endpoint took it (a 2xx). An endpoint that has not
 * answered within `ms` (the provider timeout, PROVIDER_TIMEOUT_MS) has not taken it.
 */
async function post(url: string, secret: string, events: WebhookEvent[], ms: number): Promise<boolean> {
  const body = JSON.stringify({ events });
  const timestamp = String(Date.now());
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-timestamp": timestamp,
      "x-signature": await signature(secret, timestamp, body),
    },
    body,
    signal: AbortSignal.timeout(ms),
  }).catch(() => undefined);
  await res?.body?.cancel();
  return res !== undefined && res.status >= 200 && res.status < 300;
}

/** Consecutive messages of one app, merged into POSTs of at most MAX_EVENTS events (a larger message alone). */
function chunkByEvents(messages: Message[]): Message[][] {
  const parts: Message[][] = [];
  let part: Message[] = [];
  let n = 0;
  for (const m of messages) {
    const k = (m.body as WebhookMessage).events.length;
    if (part.length && n + k > MAX_EVENTS) {
      parts.push(part);
      part = [];
      n = 0;
    }
    part.push(m);
    n += k;
  }
  if (part.length) parts.push(part);
  return parts;
}

/** Seconds before a webhook message (or an outbox send, src/hubs/task-outbox.ts) is tried again: PUSH_RETRY_BASE_S (5) doubling, at most an hour. */
export function backoff(env: Pick<Env, "PUSH_RETRY_BASE_S">, attempts: number): number {
  const n = Number(env.PUSH_RETRY_BASE_S);
  const base = Number.isFinite(n) && n >= 0 ? n : 5;
  return Math.min(3600, base * 2 ** Math.max(0, attempts - 1));
}

/** Consumer of WEBHOOK_QUEUE (and its dead-letter queue): one POST per app per batch. */
export async function deliverWebhooks(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.queue.endsWith("-dlq")) {
    for (const m of batch.messages) {
      const body = m.body as WebhookMessage;
      console.error(`webhooks: gave up on ${body.events?.length ?? 0} events for app ${body.appId}`);
      m.ack();
    }
    return;
  }
  const db = createDb(env.DB);
  const byApp = new Map<number, Message[]>();
  for (const m of batch.messages) {
    const appId = (m.body as WebhookMessage).appId;
    byApp.set(appId, [...(byApp.get(appId) ?? []), m]);
  }
  const rows = await db.query.apps.findMany({ where: inArray(apps.id, [...byApp.keys()]) });
  await Promise.all(
    [...byApp].map(async ([appId, messages]) => {
      try {
        const app = rows.find((a) => a.id === appId);
        const secret = app ? await masterSecretOf(env.CREDENTIALS_KEY, app) : null;
        // Switched off (or no secret to sign with) since the events were queued: nothing to send.
        if (!app?.callbackUrl || !secret) {
          for (const m of messages) m.ack();
          return;
        }
        for (const part of chunkByEvents(messages)) {
          const events = part.flatMap((m) => (m.body as WebhookMessage).events);
          const ok = await post(app.callbackUrl, secret, events, timeoutMs(env));
          for (const m of part) ok ? m.ack() : m.retry({ delaySeconds: backoff(env, m.attempts) });
        }
      } catch (err) {
        console.error(`webhooks: app ${appId}: ${err instanceof Error ? err.message : String(err)}`);
        for (const m of messages) m.retry({ delaySeconds: backoff(env, m.attempts) });
      }
    }),
  );
}
