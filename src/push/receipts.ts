import { z } from "zod";
import { msgIdFor, taskIdOf } from "./msg-id";
import type { ReceiptState } from "./truth";

/**
 * Receipts from apps (CONTRACT §2 "Delivery truth"): `{receipts: [{msg_id, state}]}`, by
 * `POST /psp/receipts` or published on `<app>/user/<own id>/receipt`. Pure.
 */
export const receiptsBody = z.object({
  receipts: z
    .array(
      z.object({
        msg_id: z.string().min(1).max(128),
        state: z.enum(["received", "opened", "dismissed"]),
      }),
    )
    .min(1)
    .max(500),
});

export type ReceiptItem = { msgId: string; state: ReceiptState };

/** The receipts of an MQTT receipt message, or null when it is not one. */
export function parseReceipts(payload: Uint8Array): ReceiptItem[] | null {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return null;
  }
  const parsed = receiptsBody.safeParse(value);
  if (!parsed.success) return null;
  return parsed.data.receipts.map((r) => ({ msgId: r.msg_id, state: r.state }));
}

/**
 * Receipts a user may give: for its own msg_ids only (a user's msg_id is a hash of the task and
 * the user id), grouped by task. Anything else is dropped, so no one can mark another user's
 * messages as read. (Also the msg_ids a user's session queue dropped: only its own count.)
 */
export function ownReceiptsByTask<T extends { msgId: string }>(items: T[], userId: string): Map<string, T[]> {
  const byTask = new Map<string, T[]>();
  for (const item of items) {
    const taskId = taskIdOf(item.msgId);
    if (!taskId || msgIdFor(taskId, { userId }) !== item.msgId) continue;
    const list = byTask.get(taskId) ?? [];
    list.push(item);
    byTask.set(taskId, list);
  }
  return byTask;
}
