import type { DeviceTarget } from "./audience";

/**
 * The push queue's messages (one declaration for producers and consumer). A task message
 * expands one page of the audience; a batch message sends to up to BATCH_SIZE devices of one
 * provider; an MQTT message retries publishes whose hub call failed.
 */
export type TaskPageMessage = { kind: "task"; taskId: string; cursor?: string };
export type BatchMessage = {
  kind: "batch";
  taskId: string;
  provider: DeviceTarget["provider"];
  targets: DeviceTarget[];
  /** Times the app's breaker for the provider held this batch back (src/push/breaker.ts). */
  deferred?: number;
  /** Its key in the TaskHub, when not the default (a watchdog's resume: src/push/resume.ts). */
  key?: string;
};
export type MqttMessage = { kind: "mqtt"; taskId: string; topics: string[]; key?: string };
/** Receipts a UserHub could not hand to their TaskHub at once (PUBACKs, MQTT receipts). */
export type ReceiptMessage = {
  kind: "receipt";
  taskId: string;
  source: string;
  receipts: { msgId: string; state: "received" | "opened" | "dismissed" }[];
};
/** Pushes a session's queue dropped, when their TaskHub did not answer the UserHub at once. */
export type DroppedMessage = { kind: "dropped"; taskId: string; msgIds: string[]; detail: string };
export type QueueMessage = TaskPageMessage | BatchMessage | MqttMessage | ReceiptMessage | DroppedMessage;

/** The channel and target keys of a batch or MQTT message. */
export function keysOf(m: BatchMessage | MqttMessage): { channel: string; targets: string[] } {
  return m.kind === "mqtt"
    ? { channel: "mqtt", targets: m.topics }
    : { channel: m.provider, targets: m.targets.map((t) => t.token) };
}

/** A message's key in its TaskHub (a target is in one message only, so its first one names it). */
export function batchKey(m: BatchMessage | MqttMessage): string {
  if (m.key !== undefined) return m.key;
  const { channel, targets } = keysOf(m);
  return `${channel}:${targets[0] ?? ""}`;
}

/** A task still `queued` this long after its last change never had its queue message run. */
export const STUCK_MS = 120_000;
/** Slack between a task's D1 write and its queue message's timestamp, however slow the send. */
export const QUEUE_SEND_SLACK_MS = 60_000;

/**
 * Tasks `queued` and unchanged since before this are re-queued by the watchdog. `oldestWaiting`
 * is the timestamp of the oldest message still waiting in the push queue (null: none waits;
 * undefined: unknown). A task written after that message may still have its own message waiting
 * behind it, in a backlog rather than lost: it is left alone, so a queue that is merely behind
 * is not fed a second copy of every task it holds.
 */
export function requeueCutoff(now: number, oldestWaiting: number | null | undefined): number {
  const stale = now - STUCK_MS;
  if (oldestWaiting === null || oldestWaiting === undefined) return stale;
  return Math.min(stale, oldestWaiting - QUEUE_SEND_SLACK_MS);
}
