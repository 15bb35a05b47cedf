/**
 * CONTRACT §2 "Delivery truth", the pure part: target states, what counts as what in a task's
 * status, and the one plain sentence (`why`) that explains a target that was not received.
 * No runtime imports.
 */

export type Channel = "mqtt" | "apns" | "getui" | "fcm";
/** `device`: a token the app never registered (no channel could take it). */
export type TargetChannel = Channel | "device";

export const STATES = [
  "pending",
  "sent",
  "received",
  "opened",
  "dismissed",
  "failed",
  "cancelled",
  "expired",
] as const;
export type TargetState = (typeof STATES)[number];
/** Stored only: a target claimed by a provider batch that is sending it (shown as `pending`). */
export type StoredState = TargetState | "sending";

export type ReceiptState = "received" | "opened" | "dismissed";

/**
 * The reason of an MQTT target whose message a session's stored queue dropped at its bound
 * (src/hubs/user-store-queue.ts: 1,000 messages or 4 MiB waiting, the oldest go).
 */
export const SESSION_QUEUE_FULL = "SESSION_QUEUE_FULL";
/**
 * Said in the `sent` event of an MQTT target whose user had no session when it was published
 * (the target is `sent`, handed to MQTT, with no reason), and by its `why`.
 */
export const NO_SESSION_NOTE =
  "the user has no MQTT session (not connected, no persistent session), so nothing holds it";

/** What happened to a target, in order: `state` names the event (accepted, routed, sent, retry, ...). */
export type TargetEvent = { at: number; state: string; channel: string | null; detail: string };

/** Received or beyond: `received` in a task's status. */
export const RECEIVED_OR_BEYOND: readonly StoredState[] = ["received", "opened", "dismissed"];

/** States a receipt may move a target out of, and the order receipts climb in. */
const RANK: Record<string, number> = {
  pending: 0,
  sending: 0,
  sent: 1,
  received: 2,
  dismissed: 3,
  opened: 4,
};

/**
 * The state a receipt moves a target to, or null when it does not apply: receipts never move a
 * target down (an `opened` target stays opened), nor out of failed / cancelled / expired.
 */
export function afterReceipt(current: StoredState, receipt: ReceiptState): StoredState | null {
  const from = RANK[current];
  const to = RANK[receipt];
  if (from === undefined || to === undefined || to <= from) return null;
  return receipt;
}

export const shownState = (s: StoredState): TargetState => (s === "sending" ? "pending" : s);
export const shownChannel = (c: string): Channel | null => (c === "device" ? null : (c as Channel));

const PROVIDER: Record<string, string> = { apns: "APNs", getui: "Getui", fcm: "FCM", mqtt: "MQTT" };
export const providerName = (channel: string) => PROVIDER[channel] ?? channel;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * One plain sentence on why a target is where it is; null once it was received or opened.
 * `removedAt`: when the platform unregistered the device after the provider's answer.
 */
export function whyOf(t: {
  channel: string;
  state: StoredState;
  reason: string | null;
  reached: number;
  removedAt?: number | null;
  /** An MQTT target whose user had no session when it was published (its `sent` event says so). */
  sessionless?: boolean;
}): string | null {
  const p = providerName(t.channel);
  const r = t.reason ?? "";
  switch (t.state) {
    case "received":
    case "opened":
      return null;
    case "dismissed":
      return "the user dismissed it without opening it";
    case "cancelled":
      return "cancelled by the partner before it was sent";
    case "expired":
      return t.channel === "mqtt"
        ? "expired before the device came online"
        : `expired before it could be handed to ${p}`;
    case "pending":
    case "sending":
      return r
        ? `waiting for another try: the last attempt failed with ${r}`
        : t.channel === "mqtt"
          ? "waiting to be published on MQTT"
          : `waiting to be sent to ${p}`;
    case "sent":
      if (t.channel !== "mqtt") return `accepted by ${p}; the app has not reported it received yet`;
      if (t.sessionless) return `published on MQTT, but ${NO_SESSION_NOTE}`;
      return t.reached > 0
        ? "published on MQTT to a live connection; no acknowledgement from the device yet"
        : "queued on MQTT for an offline session; the device has not come online yet";
    case "failed":
      if (r === "UNKNOWN_DEVICE") return "the device token was never registered with POST /psp/devices";
      if (r === "NO_CREDENTIALS") return `the app has no ${p} credentials`;
      if (r === "EXPIRED") return `expired before it could be handed to ${p}`;
      if (r === "RETRIES_EXHAUSTED")
        return `${p} kept answering with temporary errors; gave up after every retry`;
      if (r === "HUB_UNAVAILABLE") return "the MQTT broker could not take it; gave up after every retry";
      if (r === SESSION_QUEUE_FULL)
        return "dropped: the device's MQTT session queue was full (1,000 messages or 4 MiB); the oldest were dropped";
      return t.removedAt ? `${p}: ${r}, device unregistered at ${iso(t.removedAt)}` : `${p}: ${r}`;
  }
}
