/**
 * CONTRACT §2 "Delivery truth": one message id per task and recipient, the same on every
 * channel, so an app that gets a push twice (its socket and a notification) shows it once.
 * Pure: no runtime imports.
 *
 * `msg_id = <task id>.<16 hex>`, the hex a 64-bit FNV-1a hash of the recipient: `u:<user id>`
 * for a user (its MQTT sessions and every device registered to it share the id), `d:<token>`
 * for a device without a user, `g:<group id>` for a group topic (each member's copy carries the
 * member's own `u:` id). Deterministic, so a UserHub stamps a group message per member without
 * asking anyone, and the task a receipt belongs to is the part before the dot.
 */

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

function fnv1a64(text: string): string {
  let h = FNV_OFFSET;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= BigInt(byte);
    h = (h * FNV_PRIME) & MASK;
  }
  return h.toString(16).padStart(16, "0");
}

export type Recipient = { userId: string } | { token: string } | { groupId: string };

export function recipientKey(r: Recipient): string {
  if ("userId" in r) return `u:${r.userId}`;
  if ("groupId" in r) return `g:${r.groupId}`;
  return `d:${r.token}`;
}

export function msgIdFor(taskId: string, r: Recipient): string {
  return `${taskId}.${fnv1a64(recipientKey(r))}`;
}

/** The recipient of a device target: its user when it has one, else the device. */
export function deviceRecipient(d: { token: string; userId: string | null }): Recipient {
  return d.userId !== null ? { userId: d.userId } : { token: d.token };
}

const MSG_ID = /^([A-Za-z0-9]{1,64})\.([0-9a-f]{16})$/;

/** The task id of a well-formed msg_id, or null. */
export function taskIdOf(msgId: string): string | null {
  return MSG_ID.exec(msgId)?.[1] ?? null;
}

/** A JSON-object body with `msg_id` added (`embed_msg_id`); any other body as it was. */
export function embedMsgId(payload: Uint8Array, msgId: string): Uint8Array {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return payload;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return payload;
  return new TextEncoder().encode(JSON.stringify({ ...(value as Record<string, unknown>), msg_id: msgId }));
}

/** What a push message carries through the broker so each recipient's hub can stamp its msg_id. */
export type PushMark = { taskId: string; embed: boolean };

/** The msg_id on a stamped message (its MQTT 5 user property), if any. */
export function msgIdOn(m: { props?: { userProperties?: readonly (readonly [string, string])[] } }) {
  return m.props?.userProperties?.find(([k]) => k === "msg_id")?.[1];
}

type Stampable = {
  payload: Uint8Array;
  props?: { userProperties?: [string, string][] } & Record<string, unknown>;
  push?: PushMark;
};

/**
 * A push message as one user receives it: MQTT 5 user property `msg_id` (3.1.1 clients do not
 * see properties) and, when the app asked for `embed_msg_id`, `msg_id` inside a JSON-object body.
 * Messages that are not pushes are answered as they are.
 */
export function stampFor<M extends Stampable>(m: M, userId: string): M {
  if (!m.push) return m;
  const { push, ...rest } = m;
  const msgId = msgIdFor(push.taskId, { userId });
  const userProperties: [string, string][] = [
    ...(m.props?.userProperties ?? []).filter(([k]) => k !== "msg_id"),
    ["msg_id", msgId],
  ];
  return {
    ...rest,
    payload: push.embed ? embedMsgId(m.payload, msgId) : m.payload,
    props: { ...m.props, userProperties },
  } as M;
}
