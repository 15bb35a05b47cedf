import { z } from "zod";
import type { AppRow } from "../../db/schema";
import { api, route } from "../../http/openapi";
import { adminQuery } from "../../http/validate";
import { appRegistry, REGISTRY_SHARDS } from "../../hubs/app-registry";
import {
  METRICS_SHARDS,
  type MetricRow,
  type MetricsRead,
  metricsHub,
  RETENTION_MINUTES,
} from "../../hubs/metrics";
import { requireApp } from "../../services/apps";

const metricsQuery = z.strictObject({
  appkey: z.string().min(1).max(64).optional(),
  minutes: z.coerce.number().int().min(1).max(RETENTION_MINUTES).default(60),
  format: z.enum(["json", "prometheus"]).optional(),
});

type Counted = Pick<MetricRow, "metric" | "channel" | "outcome" | "n">;

/** Counters of some rows: the four plain ones and deliveries by channel and outcome. */
function summary(rows: Counted[]) {
  const out = {
    pushes_accepted: 0,
    mqtt_in: 0,
    mqtt_out: 0,
    mqtt_connects: 0,
    deliveries: {} as Record<string, Record<string, number>>,
  };
  for (const r of rows) {
    if (r.metric === "deliveries") {
      const key = r.channel || "none";
      const channel = out.deliveries[key] ?? {};
      channel[r.outcome] = (channel[r.outcome] ?? 0) + r.n;
      out.deliveries[key] = channel;
    } else out[r.metric] += r.n;
  }
  return out;
}

/** The rows of every shard of an app's metrics, the same keys added up. */
function merged(reads: MetricsRead[]): MetricsRead {
  const sum = <R extends Counted>(rows: R[], key: (r: R) => string) => {
    const out = new Map<string, R>();
    for (const r of rows) {
      const k = key(r);
      const seen = out.get(k);
      if (seen) seen.n += r.n;
      else out.set(k, { ...r });
    }
    return [...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
  };
  const labels = (r: Counted) => `${r.metric}\u0000${r.channel}\u0000${r.outcome}`;
  return {
    per_minute: sum(
      reads.flatMap((r) => r.per_minute),
      (r) => `${String(r.minute).padStart(12, "0")}\u0000${labels(r)}`,
    ),
    totals: sum(
      reads.flatMap((r) => r.totals),
      labels,
    ),
  };
}

/** One app's numbers: its Metrics shards and the live identities of its registry shards. */
async function appMetrics(env: Env, app: AppRow, minutes: number) {
  const shards = Array.from({ length: REGISTRY_SHARDS }, (_, i) => appRegistry(env, app.name, i));
  const [reads, live] = await Promise.all([
    Promise.all(Array.from({ length: METRICS_SHARDS }, (_, i) => metricsHub(env, app.name, i).read(minutes))),
    Promise.all(shards.map((s) => s.liveUsers(app.name))),
  ]);
  const read = merged(reads);
  const byMinute = new Map<number, Counted[]>();
  for (const r of read.per_minute) byMinute.set(r.minute, [...(byMinute.get(r.minute) ?? []), r]);
  return {
    app: app.name,
    appkey: app.appkey,
    live_users: live.reduce((a, b) => a + b, 0),
    totals: summary(read.totals),
    window: summary(read.per_minute),
    per_minute: [...byMinute].map(([minute, rows]) => ({
      minute: new Date(minute * 60_000).toISOString(),
      ...summary(rows),
    })),
    raw_totals: read.totals,
  };
}

const label = (v: string) => v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");

const FAMILIES = [
  [
    "pushes_accepted",
    "edge_push_pushes_accepted_total",
    "Partner pushes accepted (POST /psp/push/msg and /psp/push/config).",
  ],
  ["deliveries", "edge_push_deliveries_total", "Delivery outcomes of push targets, by channel and outcome."],
  ["mqtt_in", "edge_push_mqtt_messages_in_total", "MQTT PUBLISH packets received from clients."],
  ["mqtt_out", "edge_push_mqtt_messages_out_total", "MQTT PUBLISH packets written to clients."],
  ["mqtt_connects", "edge_push_mqtt_connects_total", "MQTT connections accepted (CONNECT opened a session)."],
] as const;

/** Prometheus text exposition (version 0.0.4): counters since the app's metrics began, one gauge. */
function prometheus(apps: Awaited<ReturnType<typeof appMetrics>>[]): string {
  const lines: string[] = [];
  for (const [metric, name, help] of FAMILIES) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const a of apps) {
      const rows = a.raw_totals.filter((r) => r.metric === metric);
      if (metric === "deliveries") {
        for (const r of rows)
          lines.push(
            `${name}{app="${label(a.app)}",channel="${label(r.channel || "none")}",outcome="${label(r.outcome)}"} ${r.n}`,
          );
      } else lines.push(`${name}{app="${label(a.app)}"} ${rows.reduce((s, r) => s + r.n, 0)}`);
    }
  }
  const live = "edge_push_mqtt_live_users";
  lines.push(`# HELP ${live} Identities (users, watches) with at least one open MQTT connection.`);
  lines.push(`# TYPE ${live} gauge`);
  for (const a of apps) lines.push(`${live}{app="${label(a.app)}"} ${a.live_users}`);
  return `${lines.join("\n")}\n`;
}

/** `GET /api/admin/metrics` (docs/admin-api.md "Metrics"): JSON, or Prometheus text. */
export const adminMetrics = api();
route(
  adminMetrics,
  "admin",
  {
    method: "get",
    path: "/",
    summary: "Per-app metrics: JSON, or Prometheus text (format=prometheus or Accept: text/plain)",
    query: metricsQuery,
  },
  async (c) => {
    const q = adminQuery(c, metricsQuery);
    const apps = q.appkey
      ? [await requireApp(c.var.db, q.appkey)]
      : await c.var.db.query.apps.findMany({ orderBy: (a, { asc }) => asc(a.id) });
    const all = await Promise.all(apps.map((a) => appMetrics(c.env, a, q.minutes)));
    const wantsText = q.format
      ? q.format === "prometheus"
      : /\btext\/plain\b/.test(c.req.header("accept") ?? "");
    if (wantsText) {
      return c.body(prometheus(all), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
    }
    return c.json({
      generated_at: new Date().toISOString(),
      minutes: q.minutes,
      apps: all.map(({ raw_totals: _, ...a }) => a),
    });
  },
);
