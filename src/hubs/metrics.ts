import { DurableObject } from "cloudflare:workers";
import { countDurableObject } from "../lib/ops";
import { logHubError } from "./common";

/**
 * Per-app counters per minute (docs/admin-api.md "Metrics"). Events are counted in memory where
 * they happen (UserHub: connects, MQTT messages in and out; TaskHub: delivery outcomes by
 * channel; the push route: accepted pushes) and reach the app's Metrics object in batches: one
 * RPC per batch, never per event, and never awaited on a hot path.
 */
export const METRICS = ["pushes_accepted", "deliveries", "mqtt_in", "mqtt_out", "mqtt_connects"] as const;
export type MetricName = (typeof METRICS)[number];

/** One increment: `channel` and `outcome` label deliveries (empty for the others). */
export type MetricRow = { minute: number; metric: MetricName; channel: string; outcome: string; n: number };

/** Per-minute rows are kept this long; the running totals forever. */
export const RETENTION_MINUTES = 24 * 60;
/** A batch is sent once its object has counted nothing for this long (it may then hibernate). */
export const FLUSH_MS = 2_000;
/** An object that keeps counting sends its batch this long after the batch's first count. */
export const FLUSH_BUSY_MS = 30_000;
/**
 * Each app's counts are spread over this many Metrics objects, by the name of the object that
 * counted (so one app's thousands of hubs do not all call one object); reads add them up.
 * Shard 0 is the object named after the app alone, as before there were shards.
 */
export const METRICS_SHARDS = 8;

export const minuteOf = (ms: number) => Math.floor(ms / 60_000);

export const metricsHub = (env: Env, app: string, shard = 0) =>
  env.METRICS.get(env.METRICS.idFromName(shard === 0 ? app : `${app}#${shard}`));

/** The shard of the object named `from` (FNV-1a of the name). */
export const metricsShard = (from: string) => {
  let h = 0x811c9dc5;
  for (let i = 0; i < from.length; i++) h = Math.imul(h ^ from.charCodeAt(i), 0x01000193);
  return (h >>> 0) % METRICS_SHARDS;
};

/** Sends `rows` to the app's Metrics shard for `from`; failures are logged, never thrown. */
export async function sendMetrics(env: Env, app: string, rows: MetricRow[], from: string): Promise<void> {
  if (rows.length === 0) return;
  try {
    await metricsHub(env, app, metricsShard(from)).add(rows);
  } catch (err) {
    logHubError(from, "metrics", err);
  }
}

/**
 * Counts in memory and sends them as one batch FLUSH_MS after the object's last count, or
 * FLUSH_BUSY_MS after the batch's first while the object keeps counting: a quiet object is left
 * free to hibernate 2 s on, and a busy one (a watch in a chatty family circle) sends one batch
 * per 30 s instead of one per 2 s. `appOf` names the app when the batch leaves (null: the counts
 * are dropped). Counts still in memory when the object is evicted are lost: the metrics are for
 * operators, not for billing.
 */
export class MetricsBatch {
  private pending = new Map<string, MetricRow>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private firstAt = 0;
  private lastAt = 0;

  constructor(
    private readonly env: Env,
    private readonly appOf: () => string | null | Promise<string | null>,
    private readonly from: () => string,
  ) {}

  add(metric: MetricName, n = 1, channel = "", outcome = ""): void {
    if (n <= 0) return;
    const minute = minuteOf(Date.now());
    const key = `${minute}|${metric}|${channel}|${outcome}`;
    const row = this.pending.get(key);
    if (row) row.n += n;
    else this.pending.set(key, { minute, metric, channel, outcome, n });
    const now = Date.now();
    this.lastAt = now;
    if (this.timer === null) {
      this.firstAt = now;
      this.timer = setTimeout(() => this.due(), FLUSH_MS);
    }
  }

  /** The timer: sends the batch, unless the object is still counting and the batch is young. */
  private due(): void {
    const now = Date.now();
    const quietFor = now - this.lastAt;
    if (quietFor < FLUSH_MS && now - this.firstAt < FLUSH_BUSY_MS) {
      const wait = Math.min(FLUSH_MS - quietFor, this.firstAt + FLUSH_BUSY_MS - now);
      this.timer = setTimeout(() => this.due(), Math.max(1, wait));
      return;
    }
    void this.flush();
  }

  async flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const rows = [...this.pending.values()];
    this.pending = new Map();
    if (rows.length === 0) return;
    try {
      const app = await this.appOf();
      if (app) await sendMetrics(this.env, app, rows, this.from());
    } catch (err) {
      logHubError(this.from(), "metrics", err);
    }
  }
}

/** Accepted pushes counted in this isolate, by app and minute, not yet sent. */
const accepted = new Map<string, MetricRow & { app: string }>();
let acceptedFlushing = false;
/** This isolate's name for the metrics shard its accepted-push counts go to (random values are not allowed at startup). */
let isolateName: string | undefined;

/**
 * Counts an accepted push. The isolate's counts leave as one batch per app FLUSH_MS after the
 * first of them, in the `waitUntil` of the request that started the batch: one Metrics call per
 * 2 s per isolate instead of one per push.
 */
export function countAccepted(env: Env, ctx: { waitUntil(p: Promise<unknown>): void }, app: string): void {
  const minute = minuteOf(Date.now());
  const key = `${app}\u0000${minute}`;
  const row = accepted.get(key);
  if (row) row.n++;
  else accepted.set(key, { app, minute, metric: "pushes_accepted", channel: "", outcome: "", n: 1 });
  if (acceptedFlushing) return;
  acceptedFlushing = true;
  ctx.waitUntil(
    new Promise((r) => setTimeout(r, FLUSH_MS)).then(async () => {
      const rows = [...accepted.values()];
      accepted.clear();
      acceptedFlushing = false;
      const byApp = new Map<string, MetricRow[]>();
      for (const { app: a, ...r } of rows) {
        const list = byApp.get(a) ?? [];
        list.push(r);
        byApp.set(a, list);
      }
      isolateName ??= `push:${crypto.randomUUID()}`;
      const from = isolateName;
      await Promise.all([...byApp].map(([a, list]) => sendMetrics(env, a, list, from)));
    }),
  );
}

export type MetricsRead = {
  per_minute: MetricRow[];
  totals: Omit<MetricRow, "minute">[];
};

/**
 * One per app: per-minute rows (kept RETENTION_MINUTES) and running totals (the Prometheus
 * counters), in SQLite. RPC methods log and rethrow.
 */
export class Metrics extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObject(this, ctx, env, "Metrics");
    this.sql = ctx.storage.sql;
    this.sql.exec(`
CREATE TABLE IF NOT EXISTS minutes (minute INTEGER NOT NULL, metric TEXT NOT NULL, channel TEXT NOT NULL,
  outcome TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (minute, metric, channel, outcome));
CREATE TABLE IF NOT EXISTS totals (metric TEXT NOT NULL, channel TEXT NOT NULL, outcome TEXT NOT NULL,
  n INTEGER NOT NULL, PRIMARY KEY (metric, channel, outcome));`);
  }

  /** A batch of increments. */
  async add(rows: MetricRow[]): Promise<void> {
    return this.guard("add", () => {
      for (const r of rows) {
        this.sql.exec(
          `INSERT INTO minutes (minute, metric, channel, outcome, n) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (minute, metric, channel, outcome) DO UPDATE SET n = n + excluded.n`,
          r.minute,
          r.metric,
          r.channel,
          r.outcome,
          r.n,
        );
        this.sql.exec(
          `INSERT INTO totals (metric, channel, outcome, n) VALUES (?, ?, ?, ?)
           ON CONFLICT (metric, channel, outcome) DO UPDATE SET n = n + excluded.n`,
          r.metric,
          r.channel,
          r.outcome,
          r.n,
        );
      }
      this.sql.exec("DELETE FROM minutes WHERE minute < ?", minuteOf(Date.now()) - RETENTION_MINUTES);
    });
  }

  /** The per-minute rows of the last `minutes` minutes (this one included), and the totals. */
  async read(minutes: number): Promise<MetricsRead> {
    return this.guard("read", () => ({
      per_minute: this.sql
        .exec<MetricRow>(
          "SELECT minute, metric, channel, outcome, n FROM minutes WHERE minute > ? ORDER BY minute, metric, channel, outcome",
          minuteOf(Date.now()) - minutes,
        )
        .toArray(),
      totals: this.sql
        .exec<Omit<MetricRow, "minute">>(
          "SELECT metric, channel, outcome, n FROM totals ORDER BY metric, channel, outcome",
        )
        .toArray(),
    }));
  }

  private async guard<T>(entry: string, work: () => T): Promise<T> {
    try {
      return work();
    } catch (err) {
      logHubError("Metrics", entry, err);
      throw err;
    }
  }
}
