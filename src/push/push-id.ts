import { toHex } from "../lib/crypto";

/**
 * The provider request id of one task's push to one device: a UUID (RFC 9562 version 8) made of
 * SHA-256 over task, provider and device token, so every attempt (a retry after a timeout, a
 * redelivered batch) carries the same APNs `apns-id` and Getui `request_id`, and a push sent
 * again is recognisably the same notification.
 */
export async function stablePushId(taskId: string, provider: string, deviceToken: string): Promise<string> {
  const text = new TextEncoder().encode(`${taskId}\n${provider}\n${deviceToken}`);
  const b = new Uint8Array(await crypto.subtle.digest("SHA-256", text)).slice(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x80; // version 8
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80; // variant 10
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
