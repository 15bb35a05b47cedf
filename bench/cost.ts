/**
 * `npm run bench:cost`: what a unit of traffic asks of Cloudflare's billed services, counted by
 * the platform itself (src/lib/ops.ts), priced at the published rates (docs/cost.md), beside
 * AWS IoT Core's price for the same traffic.
 *
 *   npm run bench:cost [-- --quick] [--subscribers M] [--messages N] [--users U] [--rounds R]
 *                      [--ios G] [--groupcasts C] [--devices D] [--keepalives 10,60] [--hold S]
 *   npm run bench:cost -- --from bench/results/cost-<date>.json
 *
 * Starts the APNs stand-in, and for each scenario `wrangler dev --var COUNT_OPS:1` on a fresh
 * local state. Each scenario is set up and warmed first (and waits out its connections'
 * CONNECT-deadline alarm); then the platform is left to go quiet, the counters are
 * reset (DELETE /api/admin/ops), the traffic runs, the platform is left to go quiet again (no
 * counter moving and no Durable Object active for 3 s) and the counters are read (GET
 * /api/admin/ops), beside the CPU time of the workerd processes over the same window:
 *
 * - fan-out: one publisher, M subscribers of a group, N messages at QoS 0, then at QoS 1;
 * - customizedcast: R rounds of one push per live MQTT user (U users), each delivered and PUBACKed;
 * - unicast and groupcast to G offline iOS devices, through the APNs stand-in;
 * - connect: D new identities connect and subscribe; reconnect: the same ones again;
 * - idle: D devices stay connected at a short keepalive
 *   (each of --keepalives) for --hold seconds (at least 4 keepalive periods), scaled to a
 *   device-day at keepalives of 60, 120 and 300 s.
 *
 * Prints the tables of docs/cost.md and writes bench/results/cost-<date>.json; `--from <that
 * file>` prints them again from its counts (after a change of rates or of pricing here).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { MqttClient } from "mqtt";
import { argValue, wholeArg } from "./lib/args";
import { APP, type PlatformBroker, startPlatform } from "./lib/brokers";
import { connectClient, endClient } from "./lib/client";
import { call, inParallel, psp, ROOT } from "./lib/platform";
import { cpuSeconds, describeError, log, sleep, stopAll, stopOnSignal } from "./lib/procs";
import { round } from "./lib/stats";
import { closeRig, connectRig, fanOutShape, groupTopic, type Shape, warmUp } from "./scenarios/messaging";
import { type ApnsCounter, prepareApnsAudience, startApnsStandIn } from "./scenarios/push-api";

// ---------------------------------------------------------------------------------------------
// Published rates (USD), read 2026-12-02; sources and what each covers: docs/cost.md "Rates".

export const RATES = {
  read_on: "2026-12-02",
  workers: {
    url: "https://developers.cloudflare.com/workers/platform/pricing/",
    per_m_requests: 0.3,
    per_m_cpu_ms: 0.02,
  },
  durable_objects: {
    url: "https://developers.cloudflare.com/durable-objects/platform/pricing/",
    per_m_requests: 0.15,
    per_m_gb_s: 12.5,
    /** Incoming WebSocket messages are billed 20 to one request. */
    websocket_messages_per_request: 20,
    /** Duration is billed for 128 MB per object, whatever it uses. */
    gb_per_object: 0.128,
    per_m_rows_read: 0.001,
    per_m_rows_written: 1.0,
  },
  d1: {
    url: "https://developers.cloudflare.com/d1/platform/pricing/",
    per_m_rows_read: 0.001,
    per_m_rows_written: 1.0,
  },
  queues: { url: "https://developers.cloudflare.com/queues/pricing/", per_m_operations: 0.4 },
  aws_iot_core: {
    url: "https://aws.amazon.com/iot-core/pricing/",
    per_m_connection_minutes: 0.08,
    /** Messaging, first billion messages a month; a message is metered in 5 KB units. */
    per_m_messages: 1.0,
  },
} as const;

// ---------------------------------------------------------------------------------------------
// Arguments

const args = process.argv.slice(2);
const QUICK = args.includes("--quick");
const P = {
  subscribers: wholeArg("subscribers", QUICK ? 100 : 500),
  messages: wholeArg("messages", QUICK ? 10 : 40),
  users: wholeArg("users", QUICK ? 20 : 100),
  rounds: wholeArg("rounds", QUICK ? 2 : 3),
  ios: wholeArg("ios", QUICK ? 50 : 200),
  groupcasts: wholeArg("groupcasts", QUICK ? 1 : 3),
  devices: wholeArg("devices", QUICK ? 50 : 200),
  hold: wholeArg("hold", QUICK ? 30 : 60),
};
const KEEPALIVES = (argValue("keepalives") ?? (QUICK ? "10" : "10,60")).split(",").map(Number);
if (KEEPALIVES.some((k) => !Number.isInteger(k) || k < 1)) {
  console.error("--keepalives: whole numbers of seconds, comma-separated");
  process.exit(2);
}
const DAY_KEEPALIVES = [60, 120, 300];

// ---------------------------------------------------------------------------------------------
// The counters (the JSON of GET /api/admin/ops, the parts used here)

type ClassOps = {
  objects: number;
  stub_requests: number;
  websocket_messages: number;
  websocket_closes: number;
  alarms: number;
  active_ms: number;
  active_now: number;
};
type Snapshot = {
  seconds: number;
  worker: { fetch: number; queue_invocations: number; queue_messages: number; queue_redeliveries: number };
  durable_objects: { classes: Record<string, ClassOps>; stub_requests: Record<string, number> };
  sqlite: Record<
    string,
    { statements: number; rows_read: number; rows_written: number; set_alarm: number; get_alarm: number }
  >;
  d1: {
    metered: boolean;
    by_caller: Record<string, { queries: number; rows_read: number; rows_written: number }>;
  };
  queues: { sent: Record<string, { messages: number; ops: number }> };
};

/** Billed quantities of one window. */
type Quantities = {
  worker_requests: number;
  /**
   * An upper bound: all CPU of the workerd processes (Worker, Durable Objects, local simulators,
   * wrangler's proxy) in windows where the Worker ran at all; 0 where it did not.
   */
  worker_cpu_ms_at_most: number;
  do_stub_requests: number;
  do_websocket_messages: number;
  do_alarms: number;
  /** Stub calls + alarms + WebSocket messages / 20. */
  do_billed_requests: number;
  do_active_s: number;
  do_gb_s: number;
  sqlite_rows_read: number;
  /** Rows written, and each setAlarm (billed as a row written). */
  sqlite_rows_written: number;
  d1_rows_read: number;
  d1_rows_written: number;
  /** Writes (64 KB units sent) + reads (messages handed to the consumer) + deletes (those not handed again). */
  queue_operations: number;
};

const sum = <T>(items: T[], f: (x: T) => number) => items.reduce((n, x) => n + f(x), 0);

const quantities = (s: Snapshot, cpuS: number): Quantities => {
  const classes = Object.values(s.durable_objects.classes);
  const sql = Object.values(s.sqlite);
  const d1 = Object.values(s.d1.by_caller);
  const sent = Object.values(s.queues.sent);
  const stub = sum(classes, (c) => c.stub_requests);
  const ws = sum(classes, (c) => c.websocket_messages);
  const alarms = sum(classes, (c) => c.alarms);
  const activeS = sum(classes, (c) => c.active_ms) / 1000;
  const dor = RATES.durable_objects;
  const workerRequests = s.worker.fetch + s.worker.queue_invocations;
  return {
    worker_requests: workerRequests,
    // A window without a Worker invocation (idle devices: frames go straight to the hubs) had
    // no Worker CPU; the hubs' CPU is billed as their duration.
    worker_cpu_ms_at_most: workerRequests > 0 ? cpuS * 1000 : 0,
    do_stub_requests: stub,
    do_websocket_messages: ws,
    do_alarms: alarms,
    do_billed_requests: stub + alarms + ws / dor.websocket_messages_per_request,
    do_active_s: activeS,
    do_gb_s: activeS * dor.gb_per_object,
    sqlite_rows_read: sum(sql, (c) => c.rows_read),
    sqlite_rows_written: sum(sql, (c) => c.rows_written + c.set_alarm),
    d1_rows_read: sum(d1, (c) => c.rows_read),
    d1_rows_written: sum(d1, (c) => c.rows_written),
    queue_operations:
      sum(sent, (c) => c.ops) +
      s.worker.queue_messages +
      (s.worker.queue_messages - s.worker.queue_redeliveries),
  };
};

const scale = (q: Quantities, factor: number): Quantities =>
  Object.fromEntries(Object.entries(q).map(([k, v]) => [k, v * factor])) as Quantities;

const M = 1e6;
const dollars = (q: Quantities) => {
  const r = RATES;
  const workers =
    (q.worker_requests * r.workers.per_m_requests + q.worker_cpu_ms_at_most * r.workers.per_m_cpu_ms) / M;
  const durable_objects =
    (q.do_billed_requests * r.durable_objects.per_m_requests + q.do_gb_s * r.durable_objects.per_m_gb_s) / M;
  const sqlite =
    (q.sqlite_rows_read * r.durable_objects.per_m_rows_read +
      q.sqlite_rows_written * r.durable_objects.per_m_rows_written) /
    M;
  const d1 = (q.d1_rows_read * r.d1.per_m_rows_read + q.d1_rows_written * r.d1.per_m_rows_written) / M;
  const queues = (q.queue_operations * r.queues.per_m_operations) / M;
  return {
    workers,
    durable_objects,
    sqlite,
    d1,
    queues,
    total: workers + durable_objects + sqlite + d1 + queues,
  };
};

// ---------------------------------------------------------------------------------------------
// The platform, its counters and its CPU

const started = new Date();
const stamp = started.toISOString().slice(0, 10);
const loadStart = loadavg();

let apns: ApnsCounter | undefined;
let platform: PlatformBroker | undefined;
const cleanup = async () => {
  await stopAll();
  await apns?.close();
};
stopOnSignal(cleanup);

const ops = async (method: "GET" | "DELETE"): Promise<Snapshot> => {
  if (!platform) throw new Error("no platform");
  const r = await call(platform.dev.base, method, "/api/admin/ops", platform.admin);
  if (r.status !== 200) throw new Error(`${method} /api/admin/ops: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json as Snapshot;
};

/** The workerd processes of `wrangler dev` (the Worker, its Durable Objects and the local simulators). */
const workerdPids = (pids: number[]) =>
  pids.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "workerd";
    } catch {
      return false;
    }
  });

/** Waits until no counter moves and no Durable Object is active for `quietMs` (at most `maxMs`). */
const quiet = async (quietMs = 3000, maxMs = 120_000) => {
  const t0 = performance.now();
  let last = "";
  let since = t0;
  for (;;) {
    const s = await ops("GET");
    const classes = Object.entries(s.durable_objects.classes);
    const busy = classes.some(([, c]) => c.active_now > 0);
    const print = JSON.stringify([
      s.worker,
      s.durable_objects.stub_requests,
      classes.map(([k, c]) => [k, c.websocket_messages, c.websocket_closes, c.alarms]),
      s.sqlite,
      s.d1,
      s.queues,
    ]);
    const now = performance.now();
    if (print !== last || busy) {
      last = print;
      since = now;
    } else if (now - since >= quietMs) return;
    if (now - t0 > maxMs) {
      log(`  (still not quiet after ${maxMs / 1000} s; reading anyway)`);
      return;
    }
    await sleep(250);
  }
};

type Measured = {
  scenario: string;
  /** What one unit is, and how many the window held. */
  unit: string;
  units: number;
  window_s: number;
  cpu_s_workerd: number;
  cpu_s_all: number;
  loadavg_1m: number;
  counted: Snapshot;
  quantities: Quantities;
  notes?: string;
  /** Idle windows: the devices' keepalive. */
  keepalive_s?: number;
};

const measure = async (
  scenario: string,
  unit: string,
  run: () => Promise<number>,
  notes?: string,
  opts: { settle?: boolean } = {},
): Promise<Measured> => {
  if (!platform) throw new Error("no platform");
  const settle = opts.settle ?? true;
  if (settle) await quiet();
  await ops("DELETE");
  const pids = platform.pids();
  const wpids = workerdPids(pids);
  const w0 = cpuSeconds(wpids);
  const a0 = cpuSeconds(pids);
  const units = await run();
  if (settle) await quiet();
  const counted = await ops("GET");
  const cpuW = cpuSeconds(wpids) - w0;
  const cpuA = cpuSeconds(pids) - a0;
  const m: Measured = {
    scenario,
    unit,
    units,
    window_s: round(counted.seconds, 1),
    cpu_s_workerd: round(cpuW, 2),
    cpu_s_all: round(cpuA, 2),
    loadavg_1m: round(loadavg()[0] ?? 0, 2),
    counted,
    quantities: quantities(counted, cpuW),
    ...(notes ? { notes } : {}),
  };
  const q = m.quantities;
  log(
    `  ${scenario}: ${units} × ${unit} in ${m.window_s} s; Worker requests ${q.worker_requests}, DO stub calls ` +
      `${q.do_stub_requests}, WS messages ${q.do_websocket_messages}, alarms ${q.do_alarms}, DO active ` +
      `${round(q.do_active_s, 1)} s, SQLite rows ${q.sqlite_rows_read}/${q.sqlite_rows_written}, D1 rows ` +
      `${q.d1_rows_read}/${q.d1_rows_written}, queue ops ${q.queue_operations}, workerd CPU ${m.cpu_s_workerd} s`,
  );
  return m;
};

/** Waits until `done()` or nothing changed in `progress()` for `stallMs`; throws then. */
const until = async (what: string, done: () => boolean, progress: () => number, stallMs = 30_000) => {
  let seen = progress();
  let at = performance.now();
  while (!done()) {
    await sleep(20);
    const now = performance.now();
    const p = progress();
    if (p !== seen) {
      seen = p;
      at = now;
    } else if (now - at > stallMs) throw new Error(`${what}: stalled at ${p}`);
  }
};

// ---------------------------------------------------------------------------------------------
// Scenarios

const results: Measured[] = [];
const errors: string[] = [];

/**
 * Each upgrade arms its hub's alarm for the CONNECT deadline (30 s, src/hubs/user-context.ts);
 * it fires once even after a CONNECT (a sweep that re-arms for the keepalive, or for 5 minutes
 * without one). Scenarios that are not about connecting wait for those alarms first, then run
 * within the 5 minutes.
 */
const CONNECT_ALARM_MS = 30_000;
const pastConnectAlarms = async (connectedAt: number) => {
  const wait = connectedAt + CONNECT_ALARM_MS + 2000 - performance.now();
  if (wait > 0) await sleep(wait);
};

const fanOut = async (p: PlatformBroker) => {
  log(`fan-out: 1 publisher, ${P.subscribers} subscribers, ${P.messages} messages per QoS`);
  const shape = fanOutShape(P.subscribers, P.messages);
  // No keepalive: the pings of an idle connection are counted in their own scenario.
  const rig = await connectRig(p, shape, { keepalive: 0 });
  const connectedAt = performance.now();
  await warmUp(rig, "platform");
  await pastConnectAlarms(connectedAt);
  const publisher = rig.clients[0] as MqttClient;
  const topic = groupTopic("fan");
  for (const qos of [0, 1] as const) {
    results.push(
      await measure(`fan-out QoS ${qos}`, "delivery", async () => {
        let delivered = 0;
        rig.onMessage(() => {
          delivered++;
        });
        const expected = P.subscribers * P.messages;
        for (let seq = 0; seq < P.messages; seq++) {
          publisher.publish(topic, Buffer.alloc(64, seq), { qos });
          await new Promise((r) => setImmediate(r));
        }
        await until(
          `fan-out QoS ${qos}`,
          () => delivered >= expected,
          () => delivered,
        );
        rig.onMessage(null);
        return delivered;
      }),
    );
  }
  await closeRig(rig);
};

const userFilter = (id: string) => `${APP}/user/${id}/#`;

const customizedcast = async (p: PlatformBroker) => {
  log(`customizedcast: ${P.rounds} rounds of one push to each of ${P.users} live MQTT users`);
  const ids = Array.from({ length: P.users }, (_, i) => `cu${i}`);
  const shape: Shape = {
    name: "users",
    groups: [],
    roles: ids.map((id) => ({ userId: id, filter: userFilter(id) })),
    count: 0,
    intervalMs: 0,
  };
  const rig = await connectRig(p, shape, { keepalive: 0 });
  const connectedAt = performance.now();
  let got = 0;
  rig.onMessage(() => {
    got++;
  });
  const push = (id: string, n: number) =>
    psp(p.dev.base, p.app, "POST", "/psp/push/msg", {
      type: "customizedcast",
      alias: id,
      payload: { display_type: "message", body: { custom: { push_type: "bench", n } } },
    });
  // Warm-up: one push each (hubs awake, tokens and app rows cached), not counted.
  await inParallel(ids, 8, (id) => push(id, -1).then(() => undefined));
  await until(
    "customizedcast warm-up",
    () => got >= ids.length,
    () => got,
  );
  await pastConnectAlarms(connectedAt);
  results.push(
    await measure(
      "customizedcast → live MQTT user",
      "push",
      async () => {
        got = 0;
        const pushes = Array.from({ length: P.rounds }, (_, r) => ids.map((id) => ({ id, n: r }))).flat();
        await inParallel(pushes, 8, (x) => push(x.id, x.n).then(() => undefined));
        await until(
          "customizedcast",
          () => got >= pushes.length,
          () => got,
        );
        return pushes.length;
      },
      "QoS 1 publish to the user's hub; the device's PUBACK is its receipt",
    ),
  );
  rig.onMessage(null);
  await closeRig(rig);
};

const tokenOf = (id: string) => Buffer.from(id.padEnd(32, "x")).toString("hex");

const apnsPushes = async (p: PlatformBroker, counter: ApnsCounter) => {
  log(`APNs: ${P.ios} offline users with one iOS device each`);
  await prepareApnsAudience(p, counter, P.ios);
  const ids = Array.from({ length: P.ios }, (_, i) => `off${i}`);
  const unicast = (id: string) =>
    psp(p.dev.base, p.app, "POST", "/psp/push/msg", {
      type: "unicast",
      device_tokens: tokenOf(id),
      payload: { display_type: "notification", body: { title: "bench", text: id } },
    });
  // Warm-up: the provider token and app rows, not counted.
  const before = counter.accepted();
  await unicast(ids[0] as string);
  await until(
    "APNs warm-up",
    () => counter.accepted() > before,
    () => counter.accepted(),
  );
  results.push(
    await measure("unicast → 1 offline iOS device (APNs)", "push", async () => {
      const from = counter.accepted();
      await inParallel(ids, 8, (id) => unicast(id).then(() => undefined));
      await until(
        "APNs unicast",
        () => counter.accepted() - from >= ids.length,
        () => counter.accepted(),
      );
      return ids.length;
    }),
  );
  results.push(
    await measure(
      `groupcast → ${P.ios} offline iOS devices (APNs)`,
      "APNs delivery",
      async () => {
        const from = counter.accepted();
        for (let g = 0; g < P.groupcasts; g++) {
          await psp(p.dev.base, p.app, "POST", "/psp/push/msg", {
            type: "groupcast",
            group_id: "offline",
            payload: { display_type: "notification", body: { title: "bench", text: `groupcast ${g}` } },
          });
        }
        const want = P.groupcasts * ids.length;
        await until(
          "APNs groupcast",
          () => counter.accepted() - from >= want,
          () => counter.accepted(),
        );
        return want;
      },
      `${P.groupcasts} groupcasts of ${P.ios} targets`,
    ),
  );
};

/** Devices connecting and subscribing their user topic (keepalive off, so no ping falls in the window). */
const connects = async (p: PlatformBroker) => {
  const ids = Array.from({ length: P.devices }, (_, i) => `conn${i}`);
  await p.prepareUsers(ids);
  const clients: MqttClient[] = [];
  const connectAll = async () => {
    clients.length = 0;
    await inParallel(ids, 50, async (id) => {
      const c = await connectClient(await p.urlFor(id), { clientId: `${id}-dev`, clean: true, keepalive: 0 });
      await c.subscribeAsync(userFilter(id), { qos: 1 });
      clients.push(c);
    });
    // The hubs' CONNECT-deadline alarm (once per connection) belongs to the connect.
    await pastConnectAlarms(performance.now());
    return clients.length;
  };
  log(`connect: ${ids.length} new identities, then the same ones again`);
  results.push(
    await measure(
      "connect",
      "connect",
      connectAll,
      "a new identity: CONNECT and CONNACK, one SUBSCRIBE of the user's topic, the hub's first alarm (30 s on)",
    ),
  );
  // Their disconnects happen before the next window opens (it waits until all is quiet).
  await inParallel(clients, 50, (c) => endClient(c));
  results.push(
    await measure(
      "reconnect",
      "connect",
      connectAll,
      "a known identity (its hub's schema and memberships are there): the same steps",
    ),
  );
  await inParallel(clients, 50, (c) => endClient(c));
};

/**
 * Idle devices at `keepalive`: connected first (not counted) and left to settle (two periods,
 * and past the connections' first alarm);
 * then counted over a window of `--hold` seconds (at least four periods). The pings never stop,
 * so the window is a fixed time, not "until quiet".
 */
const idle = async (p: PlatformBroker, keepalive: number) => {
  const ids = Array.from({ length: P.devices }, (_, i) => `idle${keepalive}-${i}`);
  await p.prepareUsers(ids);
  const clients: MqttClient[] = [];
  await inParallel(ids, 50, async (id) => {
    const c = await connectClient(await p.urlFor(id), { clientId: `${id}-dev`, clean: true, keepalive });
    await c.subscribeAsync(userFilter(id), { qos: 1 });
    clients.push(c);
  });
  const hold = Math.max(P.hold, 4 * keepalive);
  // Past the connections' first alarm, and two keepalive periods in.
  const settle = Math.max(2 * keepalive * 1000, CONNECT_ALARM_MS + 2000);
  log(
    `idle: ${clients.length} devices at keepalive ${keepalive} s, settling ${settle / 1000} s, counted for ${hold} s`,
  );
  await sleep(settle);
  const m = await measure(
    `idle at keepalive ${keepalive} s`,
    "device-second",
    async () => {
      await sleep(hold * 1000);
      const still = clients.filter((c) => c.connected).length;
      if (still < clients.length)
        errors.push(`idle ${keepalive} s: ${clients.length - still} connections dropped`);
      return clients.length;
    },
    `${clients.length} devices`,
    { settle: false },
  );
  // Counted from the reset to the read.
  m.units = round(m.units * m.counted.seconds);
  m.keepalive_s = keepalive;
  results.push(m);
  await inParallel(clients, 50, (c) => endClient(c));
};

// ---------------------------------------------------------------------------------------------
// Tables

const fmt = (v: number, digits = 2) =>
  v === 0
    ? "0"
    : Math.abs(v) >= 100
      ? Math.round(v).toLocaleString("en-US")
      : Math.abs(v) >= 1
        ? v.toFixed(digits === 0 ? 0 : 1)
        : v.toPrecision(2);
const usd = (v: number) => (v === 0 ? "$0" : v >= 0.01 ? `$${v.toFixed(4)}` : `$${v.toPrecision(2)}`);

type Row = { label: string; q: Quantities; aws: number | null; awsNote: string };

const awsRate = RATES.aws_iot_core;
const awsMessages = (n: number) => (n * awsRate.per_m_messages) / M;

const rowsOf = (subscribers: number): Row[] => {
  const rows: Row[] = [];
  for (const m of results) {
    const per = (n: number) => scale(m.quantities, n / m.units);
    if (m.scenario.startsWith("fan-out")) {
      const qos1 = m.scenario.endsWith("1");
      // Per 1,000 deliveries: 1,000 PUBLISH out, 1,000 / M in, and at QoS 1 the devices' PUBACKs.
      const msgs = 1000 + 1000 / subscribers + (qos1 ? 1000 : 0);
      rows.push({
        label: `${m.scenario}, per 1,000 deliveries (${subscribers} subscribers)`,
        q: per(1000),
        aws: awsMessages(msgs),
        awsNote: `${fmt(msgs, 0)} messages`,
      });
    } else if (m.scenario.startsWith("customizedcast")) {
      rows.push({
        label: `${m.scenario}, per 1,000 pushes`,
        q: per(1000),
        aws: awsMessages(3000),
        awsNote: "3,000 messages: HTTP publish, PUBLISH out, PUBACK in",
      });
    } else if (m.scenario.includes("APNs")) {
      rows.push({
        label: `${m.scenario}, per 1,000 ${m.unit === "push" ? "pushes" : "APNs deliveries"}`,
        q: per(1000),
        aws: null,
        awsNote: "no APNs delivery in IoT Core",
      });
    } else if (m.scenario === "connect" || m.scenario === "reconnect") {
      rows.push({
        label: `${m.scenario}, per 1,000 connects`,
        q: per(1000),
        aws: awsMessages(2000),
        awsNote: "2,000 messages: CONNECT, SUBSCRIBE",
      });
    } else if (m.scenario.startsWith("idle")) {
      const k = m.keepalive_s ?? 0;
      for (const day of DAY_KEEPALIVES) {
        // Counted per device-second at keepalive k; one keepalive period's work, 86,400 / day times a day.
        const factor = (k * 86_400) / day;
        rows.push({
          label: `idle device-day at keepalive ${day} s (from ${k} s)`,
          q: per(factor),
          aws: (1440 * awsRate.per_m_connection_minutes) / M,
          awsNote: "1,440 connection-minutes (pings free)",
        });
      }
    }
  }
  return rows;
};

const opsTable = (rows: Row[]) => {
  const head =
    "| per unit | Worker requests | workerd CPU-ms (at most) | DO requests (stub / WS msgs / alarms) | DO billed requests | DO GB-s | SQLite rows read / written | D1 rows read / written | Queue ops |";
  const lines = [head, `|${" --- |".repeat(9)}`];
  for (const r of rows) {
    const q = r.q;
    lines.push(
      `| ${r.label} | ${fmt(q.worker_requests)} | ${fmt(q.worker_cpu_ms_at_most)} | ${fmt(q.do_stub_requests)} / ${fmt(q.do_websocket_messages)} / ${fmt(q.do_alarms)} | ${fmt(q.do_billed_requests)} | ${fmt(q.do_gb_s)} | ${fmt(q.sqlite_rows_read)} / ${fmt(q.sqlite_rows_written)} | ${fmt(q.d1_rows_read)} / ${fmt(q.d1_rows_written)} | ${fmt(q.queue_operations)} |`,
    );
  }
  return lines.join("\n");
};

const costTable = (rows: Row[]) => {
  const head =
    "| per unit | Workers | Durable Objects (requests + GB-s) | DO SQLite | D1 | Queues | **Cloudflare** | **AWS IoT Core** |";
  const lines = [head, `|${" --- |".repeat(8)}`];
  for (const r of rows) {
    const d = dollars(r.q);
    lines.push(
      `| ${r.label} | ${usd(d.workers)} | ${usd(d.durable_objects)} | ${usd(d.sqlite)} | ${usd(d.d1)} | ${usd(d.queues)} | **${usd(d.total)}** | **${r.aws === null ? "—" : usd(r.aws)}** (${r.awsNote}) |`,
    );
  }
  return lines.join("\n");
};

// ---------------------------------------------------------------------------------------------

/** Each scenario on a fresh `wrangler dev` and state: no hub of another scenario wakes in its windows. */
const onFreshPlatform = async (name: string, work: (p: PlatformBroker) => Promise<void>) => {
  try {
    platform = await startPlatform({
      COUNT_OPS: "1",
      APNS_ENDPOINT: `${(apns as ApnsCounter).url}/apns`,
      PUSH_RETRY_BASE_S: "1",
    });
    const first = await ops("GET");
    if (!first.d1.metered)
      errors.push(`${name}: D1 is not metered (the runtime's D1 binding could not be wrapped)`);
    await work(platform);
  } catch (err) {
    errors.push(`${name}: ${describeError(err)}`);
    log(`  ${name} failed: ${describeError(err)}`);
  } finally {
    await platform?.stop();
    platform = undefined;
  }
};

const tables = (rows: Row[]) =>
  `\nCounted operations per unit\n\n${opsTable(rows)}\n\nPriced per unit (USD)\n\n${costTable(rows)}\n`;
const perUnit = (rows: Row[]) =>
  rows.map((r) => ({
    unit: r.label,
    quantities: r.q,
    cloudflare_usd: dollars(r.q),
    aws_iot_core_usd: r.aws,
    aws_note: r.awsNote,
  }));

const main = async () => {
  log(`load average at start: ${loadStart.map((l) => l.toFixed(2)).join(", ")} (${cpus().length} CPUs)`);
  apns = await startApnsStandIn();
  const counter = apns;
  await onFreshPlatform("fan-out", fanOut);
  await onFreshPlatform("customizedcast", customizedcast);
  await onFreshPlatform("apns", (p) => apnsPushes(p, counter));
  await onFreshPlatform("connect", connects);
  for (const k of KEEPALIVES) await onFreshPlatform(`idle ${k}`, (p) => idle(p, k));
  const rows = rowsOf(P.subscribers);
  const report = {
    date: started.toISOString(),
    quick: QUICK,
    command: `npm run bench:cost${args.length ? ` -- ${args.join(" ")}` : ""}`,
    parameters: { ...P, keepalives: KEEPALIVES },
    machine: {
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model ?? "?",
      memory_gib: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      loadavg_start: loadStart,
      loadavg_end: loadavg(),
    },
    rates: RATES,
    results,
    per_unit: perUnit(rows),
    errors,
  };
  const dir = path.join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `cost-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(tables(rows));
  console.log(
    `load average: start ${loadStart.map((l) => l.toFixed(2)).join(", ")}, end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(", ")}`,
  );
  if (errors.length) console.log(`errors:\n  ${errors.join("\n  ")}`);
  log(`wrote ${path.relative(ROOT, file)}`);
};

/**
 * `--from <results file>`: the tables again from a run's counted operations, with this file's
 * rates and pricing (the file's quantities and per-unit figures are rewritten; counts are not).
 */
const FROM = argValue("from");
const render = (file: string) => {
  const report = JSON.parse(readFileSync(file, "utf8")) as {
    parameters: { subscribers: number };
    rates: unknown;
    results: Measured[];
    per_unit: unknown;
  };
  for (const m of report.results) {
    m.quantities = quantities(m.counted, m.cpu_s_workerd);
    results.push(m);
  }
  const rows = rowsOf(report.parameters.subscribers);
  report.rates = RATES;
  report.per_unit = perUnit(rows);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(tables(rows));
};

if (FROM) render(path.resolve(FROM));
else {
  try {
    await main();
  } finally {
    await cleanup();
  }
}
