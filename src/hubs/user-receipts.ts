import { ownReceiptsByTask, type ReceiptItem } from "../push/receipts";
import type { ReceiptMessage } from "../push/tasks";
import { logHubError } from "./common";
import { taskHub } from "./task-hub";
import { type Hub, hubLabel } from "./user-context";

/**
 * Hands a user's receipts (PUBACKs of pushes, receipts it published) to the TaskHubs of their
 * tasks, off the connection's path (the socket does not wait for it). A TaskHub that does not
 * answer gets them through the push queue instead, which retries.
 */
export function reportReceipts(hub: Hub, items: ReceiptItem[], source: string): void {
  const who = hub.who;
  if (!who || items.length === 0) return;
  for (const [taskId, receipts] of ownReceiptsByTask(items, who.id)) {
    hub.ctx.waitUntil(
      taskHub(hub.env, taskId)
        .receipt(receipts, source)
        .then(() => undefined)
        .catch(async (err) => {
          logHubError(hubLabel(hub), `receipt for ${taskId}`, err);
          const m: ReceiptMessage = { kind: "receipt", taskId, source, receipts };
          await hub.env.PUSH_QUEUE.send(m).catch((e) => logHubError(hubLabel(hub), "queue receipt", e));
        }),
    );
  }
}
