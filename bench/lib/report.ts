/** The result file of `npm run bench` and its Markdown table (docs/benchmarks.md). */
import type { BurstResult } from "../scenarios/burst";
import type { ConnectionsResult } from "../scenarios/connections";
import type { MessagingResult } from "../scenarios/messaging";
import type { GroupcastResult, PushLoadResult } from "../scenarios/push-api";
import { ratio } from "./stats";

export type Report = {
  date: string;
  quick: boolean;
  parameters: Record<string, number>;
  machine: Record<string, unknown>;
  brokers: Record<string, { pid?: number }>;
  messaging: MessagingResult[];
  burst: BurstResult[];
  connections: ConnectionsResult[];
  push: (GroupcastResult | PushLoadResult)[];
  new_order?: Record<string, unknown>;
  codec?: { group: string; name: string; hz: number; rme_pct: number }[];
  errors: string[];
};

const BROKERS = ["platform", "mosquitto", "aedes"] as const;
const fmt = (v: number | null | undefined) =>
  v === null || v === undefined
    ? "—"
    : Math.abs(v) >= 1000
      ? Math.round(v).toLocaleString("en-US")
      : String(v);
const row = (cells: (string | number | null | undefined)[]) =>
  `| ${cells.map((c) => (typeof c === "string" ? c : fmt(c))).join(" | ")} |`;

type Figure<T> = [string, (r: T) => number | string | null | undefined];

/** One row per figure: each broker's value and the ratios platform/Mosquitto, platform/Aedes. */
const comparison = <T extends { broker: string }>(label: string, items: T[], figures: Figure<T>[]) => {
  const by = Object.fromEntries(BROKERS.map((b) => [b, items.find((r) => r.broker === b)]));
  return figures.map(([name, get]) => {
    const v = BROKERS.map((b) => (by[b] ? get(by[b] as T) : undefined));
    const [p, m, a] = v;
    const r = (x: unknown) => (typeof p === "number" && typeof x === "number" ? fmt(ratio(p, x)) : "");
    return row([label, name, ...v.map((x) => (typeof x === "string" ? x : fmt(x))), r(m), r(a)]);
  });
};

export const markdown = (r: Report, file: string): string => {
  const lines: string[] = [];
  lines.push(
    `Run of ${r.date.slice(0, 16).replace("T", " ")} UTC${r.quick ? " (--quick)" : ""}, ${String(r.machine.cpus)} cores ` +
      `(${String(r.machine.cpu_model)}), ${process.version}; raw figures in \`${file}\`.`,
    "",
    "| scenario | figure | platform | Mosquitto | Aedes | platform/Mosquitto | platform/Aedes |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  );
  const keys = [...new Set(r.messaging.map((m) => `${m.scenario}\u0000${m.qos}`))];
  for (const key of keys) {
    const [scenario, qos] = key.split("\u0000");
    const items = r.messaging.filter((m) => m.scenario === scenario && String(m.qos) === qos);
    const first = items[0];
    const label = `${scenario} QoS ${qos}${first ? ` (${first.publishers} pub → ${first.subscribers} sub, ${fmt(first.expected)} deliveries)` : ""}`;
    lines.push(
      ...comparison(label, items, [
        ["msgs/s delivered", (m) => m.msgs_per_s],
        ["latency p50 ms", (m) => m.latency_ms.p50],
        ["latency p95 ms", (m) => m.latency_ms.p95],
        ["latency p99 ms", (m) => m.latency_ms.p99],
        ["lost / duplicated", (m) => `${m.lost} / ${m.duplicates}`],
        ["CPU % client / broker", (m) => `${m.client_cpu_pct} / ${m.broker_cpu_pct}`],
        ["broker CPU-s per million deliveries", (m) => m.broker_cpu_s_per_m_deliveries],
      ]),
    );
  }
  if (r.burst.length) {
    const b = r.burst[0];
    lines.push(
      ...comparison(
        `overload burst QoS 1 (1 pub → ${b?.subscribers} sub, ${b?.in_flight} in flight, ${b?.payload_bytes} B, ${b?.burst_seconds} s)`,
        r.burst,
        [
          ["accepted (PUBACKed during the burst)", (x) => x.accepted],
          ["accepted/s", (x) => x.accepted_per_s],
          [
            "PUBACKed after the burst / not by the drain's end",
            (x) => `${x.accepted_late} / ${x.unacknowledged}`,
          ],
          ["deliveries expected / delivered", (x) => `${fmt(x.expected)} / ${fmt(x.delivered)}`],
          ["lost / duplicated", (x) => `${fmt(x.lost)} / ${fmt(x.duplicates)}`],
          ["outstanding 5 s after the burst", (x) => x.outstanding_after_5s],
          [
            "connections lost during the run",
            (x) => `${x.disconnected}${x.client_errors.length ? ` (${x.client_errors.join(", ")})` : ""}`,
          ],
          [`drain ms (burst end → last delivery; — past ${b?.drain_deadline_s} s)`, (x) => x.drain_ms],
          ["latency p50 ms", (x) => x.latency_ms.p50],
          ["latency p99 ms", (x) => x.latency_ms.p99],
          ["broker CPU-s per million deliveries", (x) => x.broker_cpu_s_per_1m_deliveries],
          ["broker RSS MB before / peak", (x) => `${x.broker_rss_before_mb} / ${fmt(x.broker_rss_peak_mb)}`],
          ["client CPU %", (x) => `${x.client_cpu_pct}`],
        ],
      ),
    );
  }
  if (r.connections.length) {
    const c = r.connections[0];
    lines.push(
      ...comparison(`idle connections (${c?.target}, keepalive 60 s)`, r.connections, [
        ["connects/s", (x) => x.connects_per_s],
        ["CONNACK p50 / p99 ms (100 connecting at once)", (x) => `${x.connack_p50_ms} / ${x.connack_p99_ms}`],
        ["broker CPU-s per 1,000 connects", (x) => x.broker_cpu_s_per_1k_connects],
        ["failed", (x) => `${x.failed}`],
        ["KiB per connection (broker RSS)", (x) => x.kib_per_connection],
        [`still connected after ${c?.hold_seconds} s`, (x) => `${x.still_connected_after_hold}`],
        [`most held (cap ${c?.cap})`, (x) => `${x.most_held}`],
      ]),
    );
  }
  const push = r.push;
  if (push.length || r.new_order) {
    lines.push("", "| platform only | figure |", "| --- | --- |");
    for (const p of push) {
      if ("accepted_per_s" in p) {
        lines.push(
          row([
            `signed POST /psp/push/msg${p.deferred ? " scheduled 1 h ahead (API alone)" : " (delivery running)"}, ${p.connections} connections, ${p.seconds} s`,
            `${fmt(p.accepted_per_s)} accepted/s (${fmt(p.accepted)} accepted, ${p.refused} refused, ${p.errors} errors), p50 ${p.latency_ms.p50} ms, p99 ${p.latency_ms.p99} ms; CPU client ${p.client_cpu_pct} % / platform ${p.broker_cpu_pct} %`,
          ]),
        );
      } else {
        lines.push(
          row([
            `${p.scenario}, ${fmt(p.targets)} targets`,
            `last delivery after ${p.last_delivery_ms.map(fmt).join(", ")} ms (median ${fmt(p.median_last_delivery_ms)}); API answered in ${p.api_answer_ms.map(fmt).join(", ")} ms${p.error ? `; ${p.error}` : ""}`,
          ]),
        );
      }
    }
    const n = r.new_order as
      | {
          technicians: number;
          getui?: { last_push_ms: number | null };
          mqtt?: { last_page_published_ms: number | null };
          task_done_ms: number | null;
          completed: boolean;
        }
      | undefined;
    if (n) {
      lines.push(
        row([
          `NEW_ORDER to ${fmt(n.technicians)} verified technicians`,
          `last Getui push ${fmt(n.getui?.last_push_ms)} ms, last MQTT page ${fmt(n.mqtt?.last_page_published_ms)} ms, task done ${fmt(n.task_done_ms)} ms${n.completed ? "" : " (INCOMPLETE)"}`,
        ]),
      );
    }
  }
  if (r.codec?.length) {
    lines.push("", "| codec | ops/s |", "| --- | --- |");
    for (const c of r.codec) lines.push(row([`${c.group}: ${c.name}`, `${fmt(c.hz)} (±${c.rme_pct} %)`]));
  }
  if (r.errors.length) lines.push("", "Failed parts:", ...r.errors.map((e) => `- ${e}`));
  return lines.join("\n");
};
