import { ownReceiptsByTask, type ReceiptItem } from "../push/receipts";
import type { DroppedMessage, ReceiptMessage } from "../push/tasks";
import { logHubError } from "./common";
import { taskHub } from "./task-hub";
import { type Hub, hubLabel } from "./user-context";
import { MAX_QUEUED, MAX_QUEUED_BYTES } from "./user-store-queue";

/**
 * Hands a user's receipts (PUBACKs of pushes, receipts it published) to the TaskHubs of their
 * tasks, off the connection's path (the socket does not wait for it). A TaskHub that does not
 * answer gets them through the push queue instead, which retries.
 */
export function reportReceipts(hub: Hub, items: ReceiptItem[], source: string): void {
  const who = hub.who;
  if (!who || items.length === 0) return;
  for (const [taskId, receipts] of ownReceiptsByTask(items, who.id)) {
    const m: ReceiptMessage = { kind: "receipt", taskId, source, receipts };
    toTaskHub(hub, "receipt", m, () => taskHub(hub.env, taskId).receipt(receipts, source));
  }
}

/**
 * Runs `call` on a task's TaskHub off the caller's path (the socket does not wait for it); when
 * the TaskHub does not answer, `fallback` goes to the push queue, whose consumer retries it.
 */
function toTaskHub(
  hub: Hub,
  what: string,
  fallback: ReceiptMessage | DroppedMessage,
  call: () => Promise<unknown>,
): void {
  hub.ctx.waitUntil(
    call()
      .then(() => undefined)
      .catch(async (err) => {
        logHubError(hubLabel(hub), `${what} for ${fallback.taskId}`, err);
        await hub.env.PUSH_QUEUE.send(fallback).catch((e) => logHubError(hubLabel(hub), `queue ${what}`, e));
      }),
  );
}

/**
 * Pushes a session's queue dropped at its bound, reported to their tasks' TaskHubs (each MQTT
 * target fails as SESSION_QUEUE_FULL unless the user received it), the same way as receipts:
 * off the delivery's path, the push queue when a TaskHub does not answer. Never throws: the
 * delivery that made the drop goes on whatever happens here.
 */
export function reportDropped(hub: Hub, clientId: string, msgIds: string[]): void {
  const who = hub.who;
  if (!who || msgIds.length === 0) return;
  const bound = `${MAX_QUEUED} messages or ${MAX_QUEUED_BYTES / (1024 * 1024)} MiB`;
  const detail = `dropped from the queue of MQTT session ${clientId}: it was full (${bound} waiting); the oldest go first`;
  try {
    const items = msgIds.map((msgId) => ({ msgId }));
    for (const [taskId, own] of ownReceiptsByTask(items, who.id)) {
      const ids = own.map((i) => i.msgId);
      const m: DroppedMessage = { kind: "dropped", taskId, msgIds: ids, detail };
      toTaskHub(hub, "dropped", m, () => taskHub(hub.env, taskId).dropped(ids, detail));
    }
  } catch (err) {
    logHubError(hubLabel(hub), "report dropped", err);
  }
}
