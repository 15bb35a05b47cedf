import { eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { type AppRow, apps, tasks, taskTargets } from "../db/schema";
import { groupHub, type PublishOutcome, userHub } from "../hubs/common";
import type { Message } from "../mqtt/session";
import { channelOf, groupTopic, userTopic } from "../mqtt/topics";
import type { TaskRow } from "../services/push-tasks";
import { type DeviceTarget, devicePage, groupSubtree, unknownTokens } from "./audience";
import type { PushRequest } from "./request";
import { mqttBody, pushTypeOf, routeFor } from "./route";

/** Devices read per task message; each page becomes provider batches of BATCH_SIZE. */
export const PAGE_SIZE = 500;
export const BATCH_SIZE = 50;
/** Hub calls in flight at once while publishing a page on MQTT. */
const MQTT_PARALLEL = 50;

export type BatchMessage = {
  kind: "batch";
  taskId: string;
  provider: DeviceTarget["provider"];
  targets: DeviceTarget[];
};
export type TaskPageMessage = { kind: "task"; taskId: string; cursor?: string };
/** MQTT publishes whose hub call failed: retried through the queue like a provider batch. */
export type MqttMessage = { kind: "mqtt"; taskId: string; topics: string[] };

type TargetRow = typeof taskTargets.$inferInsert;
/** D1 binds at most 100 parameters per statement; a target row takes 5. */
const ROWS_PER_INSERT = 20;

type Counts = {
  total: number;
  sent: number;
  delivered: number;
  failed: number;
  byMqtt: number;
  batches: number;
};

const addCounts = (db: Db, taskId: string, c: Counts, extra: Partial<typeof tasks.$inferInsert> = {}) =>
  db
    .update(tasks)
    .set({
      total: sql`${tasks.total} + ${c.total}`,
      sent: sql`${tasks.sent} + ${c.sent}`,
      delivered: sql`${tasks.delivered} + ${c.delivered}`,
      failed: sql`${tasks.failed} + ${c.failed}`,
      byMqtt: sql`${tasks.byMqtt} + ${c.byMqtt}`,
      pendingBatches: sql`${tasks.pendingBatches} + ${c.batches}`,
      updatedAt: Date.now(),
      ...extra,
    })
    .where(eq(tasks.id, taskId));

/**
 * One page of a task: on the first page the MQTT publishes (user or group topics, at QoS 1) and
 * the unknown tokens; on every page, the audience's devices become provider batches on the
 * queue. Answers the cursor of the next page, or null when the audience is exhausted.
 */
export const expandPage = async (
  env: Env,
  db: Db,
  task: TaskRow,
  cursor: string | undefined,
): Promise<string | null> => {
  const app = (await db.query.apps.findFirst({ where: eq(apps.id, task.appId) })) as AppRow;
  const req = JSON.parse(task.request) as PushRequest;
  const c: Counts = { total: 0, sent: 0, delivered: 0, failed: 0, byMqtt: 0, batches: 0 };
  const groups =
    req.audience.type === "groupcast" ? await groupSubtree(db, app.id, req.audience.groupId) : [];
  // A customizedcast pages through its aliases (every device of a page's users); the other
  // audiences page through device tokens.
  const byAlias = req.audience.type === "customizedcast";
  const aliasStart = byAlias ? Number(cursor ?? 0) : 0;
  const aliases =
    req.audience.type === "customizedcast"
      ? req.audience.aliases.slice(aliasStart, aliasStart + PAGE_SIZE)
      : [];
  const page = byAlias
    ? await devicePage(
        db,
        app.id,
        { type: "customizedcast", aliases },
        groups,
        req.productionMode,
        undefined,
        10 * PAGE_SIZE,
      )
    : await devicePage(db, app.id, req.audience, groups, req.productionMode, cursor, PAGE_SIZE);
  const firstPage = cursor === undefined;
  const foreground = new Set<string>();
  const rows: TargetRow[] = [];
  const target = (channel: string, t: string, status: string, reason: string | null = null) => {
    rows.push({ taskId: task.id, channel, target: t, status, reason });
  };

  if (firstPage && (req.audience.type === "unicast" || req.audience.type === "listcast")) {
    const unknown = await unknownTokens(db, app.id, req.audience.tokens);
    for (const t of unknown) target("device", t, "failed", "UNKNOWN_DEVICE");
    c.total += unknown.length;
    c.failed += unknown.length;
  }
  // MQTT: every page of a customizedcast publishes to its users; the others publish once.
  const publishes = req.productionMode && (byAlias || firstPage);
  const retryTopics = publishes
    ? await publishMqtt(env, task.id, app, req, page, aliases, groups, foreground, c, target)
    : [];
  // Users published to above already answered whether they are in the foreground.
  const known = publishes && req.audience.type !== "groupcast";
  if (req.displayType === "message" && !known) await addForeground(env, app, page, foreground);

  const byProvider = new Map<DeviceTarget["provider"], DeviceTarget[]>();
  for (const d of page) {
    if (!routeFor(req.displayType, d.userId !== null && foreground.has(d.userId)).providers) continue;
    const list = byProvider.get(d.provider) ?? [];
    list.push(d);
    byProvider.set(d.provider, list);
  }
  const messages: { body: BatchMessage | MqttMessage }[] = [];
  if (retryTopics.length) {
    messages.push({ body: { kind: "mqtt", taskId: task.id, topics: retryTopics } });
    c.batches += 1;
  }
  for (const [provider, list] of byProvider) {
    for (let i = 0; i < list.length; i += BATCH_SIZE) {
      const targets = list.slice(i, i + BATCH_SIZE);
      for (const d of targets) target(provider, d.token, "pending");
      messages.push({ body: { kind: "batch", taskId: task.id, provider, targets } });
      c.total += targets.length;
      c.batches += 1;
    }
  }
  const next = byAlias
    ? aliasStart + PAGE_SIZE < (req.audience.type === "customizedcast" ? req.audience.aliases.length : 0)
      ? String(aliasStart + PAGE_SIZE)
      : null
    : page.length === PAGE_SIZE
      ? (page[page.length - 1]?.token ?? null)
      : null;
  // Targets are recorded before their batches are queued (the idempotency record), in one transaction.
  const inserts: BatchItem<"sqlite">[] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    inserts.push(
      db
        .insert(taskTargets)
        .values(rows.slice(i, i + ROWS_PER_INSERT))
        .onConflictDoNothing(),
    );
  }
  await db.batch([addCounts(db, task.id, c, next === null ? { expanded: true } : {}), ...inserts]);
  for (let i = 0; i < messages.length; i += 100) await env.PUSH_QUEUE.sendBatch(messages.slice(i, i + 100));
  return next;
};

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

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 200);

/**
 * MQTT publishes of a task's first page, and who is in the foreground (silent pushes skip their
 * providers). A topic whose hub call failed stays pending and is answered for retrying through
 * the queue; its user counts as not in the foreground (the providers get the push too).
 */
const publishMqtt = async (
  env: Env,
  taskId: string,
  app: AppRow,
  req: PushRequest,
  page: DeviceTarget[],
  aliases: string[],
  groups: string[],
  foreground: Set<string>,
  c: Counts,
  target: (channel: string, t: string, status: string, reason?: string | null) => void,
): Promise<string[]> => {
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
  const failed: string[] = [];
  // Each hub gets one call; up to MQTT_PARALLEL calls are in flight at once.
  for (let i = 0; i < topics.length; i += MQTT_PARALLEL) {
    const part = topics.slice(i, i + MQTT_PARALLEL);
    const results = await Promise.allSettled(
      part.map((t) => publishTo(env, app, mqttMessageOf(req, t, taskId, app))),
    );
    results.forEach((r, j) => {
      const topic = part[j] as string;
      c.total += 1;
      if (r.status === "rejected") {
        target("mqtt", topic, "pending", `HUB_ERROR: ${errorText(r.reason)}`);
        failed.push(topic);
        return;
      }
      const ch = channelOf(app.name, topic);
      if (r.value.foreground && ch.kind === "user") foreground.add(ch.id);
      target("mqtt", topic, "sent");
      c.sent += 1;
      c.byMqtt += 1;
      c.delivered += r.value.delivered;
    });
  }
  return failed;
};

/**
 * Adds the users of a page whose app is in the foreground (focus 1 on a live connection). A
 * user whose hub cannot answer counts as not in the foreground: the providers get the push.
 */
const addForeground = async (env: Env, app: AppRow, page: DeviceTarget[], foreground: Set<string>) => {
  const users = [...new Set(page.map((d) => d.userId).filter((u): u is string => u !== null))];
  await Promise.allSettled(
    users
      .filter((id) => !foreground.has(id))
      .map(async (id) => {
        const p = await userHub(env, { app: app.name, id }).presence({ app: app.name, id });
        if (p.focus === 1) foreground.add(id);
      }),
  );
};
