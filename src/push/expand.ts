import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { type AppRow, apps } from "../db/schema";
import { taskHub } from "../hubs/task-hub";
import type { NewTarget } from "../hubs/task-store";
import type { TaskRow } from "../services/push-tasks";
import { type DeviceTarget, devicePage, groupSubtree, unknownTokens } from "./audience";
import { deviceRecipient, msgIdFor } from "./msg-id";
import { addForeground, publishPage } from "./publish";
import type { PushRequest } from "./request";
import { routeFor } from "./route";
import { type BatchMessage, batchKey, type MqttMessage } from "./tasks";
import { providerName } from "./truth";

/** Devices read per task message; each page becomes provider batches of BATCH_SIZE. */
export const PAGE_SIZE = 500;
export const BATCH_SIZE = 50;

export type { BatchMessage, MqttMessage, TaskPageMessage } from "./tasks";

/** Why a device goes to its provider (the `routed` event). */
function routedDetail(req: PushRequest, d: DeviceTarget, presenceUnknown: Set<string>): string {
  const to = `to ${providerName(d.provider)}`;
  if (!req.productionMode) return `test device (production_mode=false): ${to}`;
  if (req.displayType === "notification") return `notification: ${to} (and MQTT)`;
  if (d.userId !== null && presenceUnknown.has(d.userId))
    return `silent message; whether the app is in the foreground is unknown (its hub did not answer): ${to}`;
  return d.userId === null
    ? `silent message to a device without a user: ${to}`
    : `silent message; the app is not in the foreground: ${to} (and MQTT)`;
}

/**
 * One page of a task: on the first page the MQTT publishes (user or group topics, at QoS 1) and
 * the unknown tokens; on every page, the audience's devices become provider batches on the
 * queue. Every target is recorded in the task's TaskHub (with its accepted and routed events)
 * before its batch is queued. Answers the cursor of the next page, or null when the audience
 * is exhausted, and whether the task is already complete (nothing left to send).
 */
export async function expandPage(
  env: Env,
  db: Db,
  task: TaskRow,
  cursor: string | undefined,
): Promise<{ next: string | null; complete: boolean }> {
  const app = (await db.query.apps.findFirst({ where: eq(apps.id, task.appId) })) as AppRow;
  const req = JSON.parse(task.request) as PushRequest;
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
  const accepted = `${req.audience.type} ${req.displayType} accepted`;
  const rows: NewTarget[] = [];

  if (firstPage && (req.audience.type === "unicast" || req.audience.type === "listcast")) {
    for (const t of await unknownTokens(db, app.id, req.audience.tokens)) {
      rows.push({
        channel: "device",
        target: t,
        msgId: msgIdFor(task.id, { token: t }),
        userId: null,
        deviceToken: t,
        state: "failed",
        reason: "UNKNOWN_DEVICE",
        reached: 0,
        events: [
          { state: "accepted", detail: accepted },
          { state: "failed", detail: "UNKNOWN_DEVICE: never registered with POST /psp/devices" },
        ],
      });
    }
  }
  // MQTT: every page of a customizedcast publishes to its users; the others publish once.
  const publishes = req.productionMode && (byAlias || firstPage);
  const mqtt = publishes
    ? await publishPage(env, task.id, app, req, page, aliases, groups, accepted)
    : { rows: [], foreground: new Set<string>(), failed: [] };
  rows.push(...mqtt.rows);
  const foreground = mqtt.foreground;
  // Users published to above already answered whether they are in the foreground.
  const known = publishes && req.audience.type !== "groupcast";
  const presenceUnknown =
    req.displayType === "message" && !known
      ? await addForeground(env, app, page, foreground)
      : new Set<string>();

  const byProvider = new Map<DeviceTarget["provider"], DeviceTarget[]>();
  for (const d of page) {
    if (!routeFor(req.displayType, d.userId !== null && foreground.has(d.userId)).providers) continue;
    const list = byProvider.get(d.provider) ?? [];
    list.push(d);
    byProvider.set(d.provider, list);
  }
  const messages: { body: BatchMessage | MqttMessage }[] = [];
  if (mqtt.failed.length) messages.push({ body: { kind: "mqtt", taskId: task.id, topics: mqtt.failed } });
  for (const [provider, list] of byProvider) {
    for (let i = 0; i < list.length; i += BATCH_SIZE) {
      const targets = list.slice(i, i + BATCH_SIZE);
      for (const d of targets) {
        rows.push({
          channel: provider,
          target: d.token,
          msgId: msgIdFor(task.id, deviceRecipient(d)),
          userId: d.userId,
          deviceToken: d.token,
          state: "pending",
          reason: null,
          reached: 0,
          events: [
            { state: "accepted", detail: accepted },
            { state: "routed", detail: routedDetail(req, d, presenceUnknown) },
          ],
        });
      }
      messages.push({ body: { kind: "batch", taskId: task.id, provider, targets } });
    }
  }
  const next = byAlias
    ? aliasStart + PAGE_SIZE < (req.audience.type === "customizedcast" ? req.audience.aliases.length : 0)
      ? String(aliasStart + PAGE_SIZE)
      : null
    : page.length === PAGE_SIZE
      ? (page[page.length - 1]?.token ?? null)
      : null;
  // Targets (the idempotency record) and the batches the task waits for, before the batches are
  // queued; the TaskHub writes the failed ones' target.failed events with them.
  const complete = await taskHub(env, task.id).expand(task.id, {
    rows,
    batches: messages.map((m) => batchKey(m.body)),
    cursor,
    next,
    expiresAt: req.expireAt,
  });
  for (let i = 0; i < messages.length; i += 100) await env.PUSH_QUEUE.sendBatch(messages.slice(i, i + 100));
  return { next, complete };
}
