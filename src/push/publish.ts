import type { AppRow } from "../db/schema";
import { withSessions } from "../hubs/app-registry";
import { groupHub, logHubError, type PublishOutcome, userHub } from "../hubs/common";
import type { NewTarget } from "../hubs/task-store";
import type { Message } from "../mqtt/session";
import { channelOf, groupTopic, userTopic } from "../mqtt/topics";
import type { DeviceTarget } from "./audience";
import { msgIdFor } from "./msg-id";
import type { PushRequest } from "./request";
import { mqttBody, pushTypeOf } from "./route";
import { NO_SESSION_NOTE } from "./truth";

/** Hub calls in flight at once while publishing a page on MQTT. */
const MQTT_PARALLEL = 50;
/**
 * From this many users on a page, the app registry is asked first which of them have an MQTT
 * session (one call per shard), and only their hubs are called: a NEW_ORDER to 10,000
 * technicians does MQTT work for those with a session only.
 */
export const REGISTRY_FILTER_MIN = 10;

/**
 * The MQTT message of a push: QoS 1, not retained, expiring with the task, marked so each
 * recipient's UserHub stamps its msg_id (and embeds it when the app asked for that).
 */
export function mqttMessageOf(req: PushRequest, topic: string, taskId: string, app: AppRow): Message {
  return {
    topic,
    payload: mqttBody(req),
    qos: 1,
    retain: false,
    expiresAt: req.expireAt,
    push: { taskId, embed: app.embedMsgId },
  };
}

/** One hub call: a user topic to its UserHub, a group topic to its GroupHub. Throws when the hub call fails. */
export async function publishTo(env: Env, app: AppRow, message: Message): Promise<PublishOutcome> {
  const ch = channelOf(app.name, message.topic);
  if (ch.kind === "group") {
    const delivered = await groupHub(env, app.name, ch.id).publish(app.name, ch.id, message);
    return { delivered, foreground: false };
  }
  if (ch.kind !== "user") throw new Error(`not a user or group topic: ${message.topic}`);
  return userHub(env, { app: app.name, id: ch.id }).publish({ app: app.name, id: ch.id }, message);
}

export const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 200);

/** How a publish went, in words (the `sent` event of an MQTT target). */
export function publishedDetail(topic: string, r: PublishOutcome, isGroup: boolean): string {
  const n = `${r.delivered} live connection${r.delivered === 1 ? "" : "s"}`;
  if (r.sessionless && !isGroup)
    return `published on ${topic} at QoS 1; the user is offline and ${NO_SESSION_NOTE}`;
  if (isGroup) return `published on ${topic} at QoS 1; fanned out to ${n}`;
  if (r.foreground) return `published on ${topic} at QoS 1 to ${n}; the app is in the foreground`;
  return r.delivered > 0
    ? `published on ${topic} at QoS 1 to ${n}`
    : `published on ${topic} at QoS 1; the user is offline (queued for persistent sessions)`;
}

/** An MQTT target's record: user topics carry the user's msg_id, group topics the group's. */
export function mqttTarget(
  taskId: string,
  app: AppRow,
  topic: string,
  accepted: string,
  r: PromiseSettledResult<PublishOutcome>,
): NewTarget {
  const ch = channelOf(app.name, topic);
  const isGroup = ch.kind === "group";
  const id = ch.kind === "user" || ch.kind === "group" ? ch.id : topic;
  const routed = isGroup ? "MQTT group topic (every member's live and queued sessions)" : "MQTT user topic";
  const base = {
    channel: "mqtt" as const,
    target: topic,
    msgId: msgIdFor(taskId, isGroup ? { groupId: id } : { userId: id }),
    userId: isGroup ? null : id,
    deviceToken: null,
  };
  if (r.status === "rejected") {
    const reason = `HUB_ERROR: ${errorText(r.reason)}`;
    return {
      ...base,
      state: "pending",
      reason,
      reached: 0,
      events: [
        { state: "accepted", detail: accepted },
        { state: "routed", detail: routed },
        { state: "retry", detail: `the hub call failed (${reason}); retrying through the queue` },
      ],
    };
  }
  return {
    ...base,
    state: "sent",
    reason: null,
    reached: r.value.delivered,
    events: [
      { state: "accepted", detail: accepted },
      {
        state: "routed",
        detail: r.value.foreground ? `${routed}; foreground: MQTT only for silent pushes` : routed,
      },
      { state: "sent", detail: publishedDetail(topic, r.value, isGroup) },
    ],
  };
}

/**
 * The MQTT publishes of a page: one hub call per topic, up to MQTT_PARALLEL at once. Answers
 * the targets' records, the users in the foreground (silent pushes skip their providers), and
 * the topics whose hub call failed (retried through the queue; their users count as not in the
 * foreground, so the providers get the push too).
 */
export async function publishPage(
  env: Env,
  taskId: string,
  app: AppRow,
  req: PushRequest,
  page: DeviceTarget[],
  aliases: string[],
  groups: string[],
  accepted: string,
): Promise<{ rows: NewTarget[]; foreground: Set<string>; failed: string[] }> {
  const pushType = pushTypeOf(req);
  const users =
    req.audience.type === "customizedcast"
      ? aliases
      : req.audience.type === "unicast" || req.audience.type === "listcast"
        ? [...new Set(page.map((d) => d.userId).filter((u): u is string => u !== null))]
        : [];
  const topics = [
    ...users.map((id) => userTopic(app.name, id, pushType)),
    ...groups.map((g) => groupTopic(app.name, g, pushType)),
  ];
  const rows: NewTarget[] = [];
  const foreground = new Set<string>();
  const failed: string[] = [];
  const withSession = users.length >= REGISTRY_FILTER_MIN ? await sessionsAmong(env, app, users) : null;
  const skipped = new Set(
    withSession
      ? users.filter((id) => !withSession.has(id)).map((id) => userTopic(app.name, id, pushType))
      : [],
  );
  const sessionless: PublishOutcome = { delivered: 0, foreground: false, sessionless: true };
  for (let i = 0; i < topics.length; i += MQTT_PARALLEL) {
    const part = topics.slice(i, i + MQTT_PARALLEL);
    const results = await Promise.allSettled(
      part.map((t) =>
        skipped.has(t)
          ? Promise.resolve(sessionless)
          : publishTo(env, app, mqttMessageOf(req, t, taskId, app)),
      ),
    );
    results.forEach((r, j) => {
      const row = mqttTarget(taskId, app, part[j] as string, accepted, r);
      rows.push(row);
      if (r.status === "rejected") failed.push(row.target);
      else if (r.value.foreground && row.userId !== null) foreground.add(row.userId);
    });
  }
  return { rows, foreground, failed };
}

/**
 * Which of `users` the app registry lists with an MQTT session; null (every hub is called) when
 * the registry could not answer.
 */
async function sessionsAmong(env: Env, app: AppRow, users: string[]): Promise<Set<string> | null> {
  try {
    return await withSessions(env, app.name, users);
  } catch (err) {
    logHubError(`AppRegistry:${app.name}`, "withSessions (publishing to every user instead)", err);
    return null;
  }
}

/**
 * Adds the users of a page whose app is in the foreground (focus 1 on a live connection).
 * Answers the users whose hub could not answer: they count as not in the foreground.
 */
export async function addForeground(
  env: Env,
  app: AppRow,
  page: DeviceTarget[],
  foreground: Set<string>,
): Promise<Set<string>> {
  const users = [...new Set(page.map((d) => d.userId).filter((u): u is string => u !== null))];
  const unknown = new Set<string>();
  await Promise.all(
    users
      .filter((id) => !foreground.has(id))
      .map(async (id) => {
        try {
          const p = await userHub(env, { app: app.name, id }).presence({ app: app.name, id });
          if (p.focus === 1) foreground.add(id);
        } catch {
          unknown.add(id); // logged by the hub; the routed event says so
        }
      }),
  );
  return unknown;
}
