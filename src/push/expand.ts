import { eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { type AppRow, apps, tasks, taskTargets } from "../db/schema";
import { groupHub, userHub } from "../hubs/common";
import { groupTopic, userTopic } from "../mqtt/topics";
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
  if (publishes) await publishMqtt(env, app, req, page, aliases, groups, foreground, c, target);
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
  const messages: { body: BatchMessage }[] = [];
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

/** MQTT publishes of a task's first page, and who is in the foreground (silent pushes skip their providers). */
const publishMqtt = async (
  env: Env,
  app: AppRow,
  req: PushRequest,
  page: DeviceTarget[],
  aliases: string[],
  groups: string[],
  foreground: Set<string>,
  c: Counts,
  target: (channel: string, t: string, status: string) => void,
) => {
  const pushType = pushTypeOf(req);
  const message = { payload: mqttBody(req), qos: 1 as const, retain: false, expiresAt: req.expireAt };
  const users =
    req.audience.type === "customizedcast"
      ? aliases
      : req.audience.type === "unicast" || req.audience.type === "listcast"
        ? [...new Set(page.map((d) => d.userId).filter((u): u is string => u !== null))]
        : [];
  // Each user's hub gets one call; up to MQTT_PARALLEL calls are in flight at once.
  for (let i = 0; i < users.length; i += MQTT_PARALLEL) {
    const results = await Promise.all(
      users.slice(i, i + MQTT_PARALLEL).map(async (id) => {
        const topic = userTopic(app.name, id, pushType);
        const r = await userHub(env, { app: app.name, id }).publish(
          { app: app.name, id },
          { ...message, topic },
        );
        return { id, topic, ...r };
      }),
    );
    for (const r of results) {
      if (r.foreground) foreground.add(r.id);
      target("mqtt", r.topic, "sent");
      c.total += 1;
      c.sent += 1;
      c.byMqtt += 1;
      c.delivered += r.delivered;
    }
  }
  for (const g of groups) {
    const topic = groupTopic(app.name, g, pushType);
    const delivered = await groupHub(env, app.name, g).publish(app.name, g, { ...message, topic });
    target("mqtt", topic, "sent");
    c.total += 1;
    c.sent += 1;
    c.byMqtt += 1;
    c.delivered += delivered;
  }
};

/** Adds the users of a page whose app is in the foreground (focus 1 on a live connection). */
const addForeground = async (env: Env, app: AppRow, page: DeviceTarget[], foreground: Set<string>) => {
  const users = [...new Set(page.map((d) => d.userId).filter((u): u is string => u !== null))];
  await Promise.all(
    users
      .filter((id) => !foreground.has(id))
      .map(async (id) => {
        const p = await userHub(env, { app: app.name, id }).presence({ app: app.name, id });
        if (p.focus === 1) foreground.add(id);
      }),
  );
};
