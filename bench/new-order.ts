/**
 * Benchmark (not a test): NEW_ORDER to N VERIFIED technicians, end to end through `wrangler dev`.
 *
 *   npx tsx bench/new-order.ts [--technicians N] [--timeout-s S] [--stall-s S] [--log FILE]
 *                              [--poll-status] [--no-loopback-fix] [--out FILE]
 *
 * On its own, from a clean clone after `npm ci`: starts the Getui stand-in on a free loopback
 * port, migrates and seeds a fresh local D1 in a temp folder (N technicians, each with a Getui
 * device on the built-in `technician` app), serves the Worker with `wrangler dev` on that state,
 * puts the stand-in's credentials on the technician app, then times `POST /api/admin/orders`
 * until the last push reached the stand-in and the task reports done. Prints a report and writes
 * it to `bench/results/new-order-<ISO date>.json` (or `--out FILE`). Everything it starts is stopped and the temp
 * folder deleted, also on failure, time limit (`--timeout-s`, default 600), stall (no Getui push
 * for `--stall-s`, default 90) or Ctrl-C.
 *
 * While the task runs only the stand-in's own counter is watched. Then the task's status and its
 * per-target records are read through the partner API (`GET /psp/push/status`, paged
 * `/psp/push/targets`, signed with a master secret issued to the technician app for the run):
 * the first status that says the task ended bounds the done time, and the `updated_at` of its
 * MQTT targets (recorded right after each page's publishes) gives the MQTT times.
 * `--poll-status` also follows the task through the status while it runs. `--log FILE` keeps
 * wrangler dev's output.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createGetuiStandIn } from "../test/stand-ins/getui";
import { argValue, wholeArg } from "./lib/args";
import {
  buildBundle,
  CHILD_ENV,
  type Dev,
  devVar,
  ROOT,
  call as sharedCall,
  signed,
  startDev,
} from "./lib/platform";
import { children, describeError, killGroup, sleep, stopChild } from "./lib/procs";

const WRANGLER = path.join(ROOT, "node_modules", ".bin", "wrangler");
/** Technician rows per INSERT statement of the seed file. */
const SEED_ROWS_PER_INSERT = 500;
/** How long the Getui count must stay at N before the run is over, and the status poll interval. */
const SETTLE_MS = 2000;
const POLL_MS = 200;
const ENDED = new Set(["done", "failed", "cancelled", "expired"]);

// ---------------------------------------------------------------------------------------------
// Arguments

const TECHNICIANS = wholeArg("technicians", 10_000);
const TIMEOUT_S = wholeArg("timeout-s", 600);
const STALL_S = wholeArg("stall-s", 90);
const LOG_FILE = argValue("log");
const POLL_STATUS = process.argv.includes("--poll-status");

// ---------------------------------------------------------------------------------------------
// Time limit, child processes, cleanup

const startedAt = performance.now();
/** Until the task is done; the final read of D1 gets TEARDOWN_MS more. */
let deadline = startedAt + TIMEOUT_S * 1000;
const TEARDOWN_MS = 60_000;
class BenchTimeout extends Error {}
const checkDeadline = (step: string) => {
  if (performance.now() > deadline) {
    throw new BenchTimeout(`gave up after ${TIMEOUT_S} s (--timeout-s) while ${step}`);
  }
};
const msLeft = () => Math.max(1000, deadline - performance.now());
const log = (line: string) => {
  const s = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(6);
  console.log(`[${s}s] ${line}`);
};

let stateDir: string | undefined;
let standInServer: Server | undefined;
let dev: Dev | undefined;
const devLog = () => dev?.output() ?? "";

const cleanup = async () => {
  await Promise.all([...children].map(stopChild));
  if (standInServer) {
    const server = standInServer;
    standInServer = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  if (LOG_FILE && devLog()) writeFileSync(LOG_FILE, devLog());
  if (stateDir) {
    rmSync(stateDir, { recursive: true, force: true });
    stateDir = undefined;
  }
};

/** Last resort when something hangs past the time limit: end every group, delete the folder. */
const watchdog = setTimeout(
  () => {
    console.error(`benchmark still running well past its time limit: stopping everything`);
    for (const child of children) killGroup(child, "SIGKILL");
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    process.exit(3);
  },
  TIMEOUT_S * 1000 + 2 * TEARDOWN_MS,
);
watchdog.unref();

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping what the benchmark started`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** Runs wrangler with arguments in its own process group, bounded by the time left. */
const wrangler = (args: string[], step: string) =>
  new Promise<string>((resolve, reject) => {
    checkDeadline(step);
    const child = spawn(WRANGLER, args, {
      cwd: ROOT,
      env: CHILD_ENV,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    children.add(child);
    let out = "";
    let err = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), msLeft());
    child.on("error", (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(new Error(`${step}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve(out);
      else if (signal === "SIGKILL") reject(new BenchTimeout(`gave up after ${TIMEOUT_S} s while ${step}`));
      else reject(new Error(`${step} failed (exit ${code ?? signal}):\n${err}${out}`));
    });
  });

// ---------------------------------------------------------------------------------------------
// The Getui stand-in, with a counter of accepted pushes

const getuiCounts = { accepted: 0, rejected: 0, auth: 0, firstAt: 0, lastAt: 0 };
const PUSH_PATH = /^\/getui\/[^/]+\/push\/single\/cid$/;
const AUTH_PATH = /^\/getui\/[^/]+\/auth$/;

const startStandIn = async (): Promise<string> => {
  const getui = createGetuiStandIn();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const body = Buffer.concat(chunks).toString("utf8");
      try {
        if (!(await getui(req, res, url, body))) res.writeHead(404).end();
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
      if (AUTH_PATH.test(url.pathname)) getuiCounts.auth++;
      else if (PUSH_PATH.test(url.pathname) && req.method === "POST") {
        if (res.statusCode === 200) {
          const now = performance.now();
          getuiCounts.accepted++;
          if (getuiCounts.firstAt === 0) getuiCounts.firstAt = now;
          getuiCounts.lastAt = now;
        } else getuiCounts.rejected++;
      }
    });
  });
  // workerd pools its connections to the stand-in: with Node's 5 s idle timeout a push sent as
  // Node closes one would fail (see LOOPBACK_FIX). cleanup() closes every connection.
  server.keepAliveTimeout = 0;
  standInServer = server;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

// ---------------------------------------------------------------------------------------------
// HTTP helpers

/** The shared call, bounded by the time left. */
const call = (
  base: string,
  method: string,
  pathname: string,
  headers: Record<string, string>,
  body?: unknown,
) => sharedCall(base, method, pathname, headers, body, Math.round(Math.min(msLeft(), 120_000)));

type TaskStatus = {
  status: string;
  total: number;
  sent: number;
  failed: number;
  by_channel: { mqtt: number; apns: number; getui: number; fcm: number };
};

/**
 * Signed partner-API reads (`GET /psp/push/status`, `/psp/push/targets`) with a master secret
 * issued to the technician app for the run: the task's progress while it runs (`--poll-status`)
 * and its per-target records once it ended (they live in the task's TaskHub, not in D1).
 */
const pspReader = async (base: string, appkey: string, admin: Record<string, string>) => {
  const issued = await call(base, "POST", `/api/admin/apps/${appkey}/secret`, admin);
  const secret = (issued.json as { app_master_secret?: string }).app_master_secret;
  if (issued.status !== 200 || !secret) {
    throw new Error(`technician app secret: ${issued.status} ${JSON.stringify(issued.json)}`);
  }
  let errors = 0;
  return async <T>(pathname: string, query: string): Promise<T | null> => {
    const app = { name: "technician", appkey, app_master_secret: secret };
    const req = signed(base, app, "GET", `${pathname}?${query}`, "");
    try {
      const res = await call(base, "GET", req.path, req.headers);
      const answer = res.json as { ret?: string; data?: T };
      return res.status === 200 && answer.ret === "SUCCESS" && answer.data ? answer.data : null;
    } catch (err) {
      if (++errors <= 3) log(`  ${pathname} call failed: ${describeError(err)}`);
      return null;
    }
  };
};

type TargetPage = {
  targets: { channel: string | null; state: string; updated_at: string }[];
  next_cursor: string | null;
};

// ---------------------------------------------------------------------------------------------
// Seed

const cidOf = (i: number) => `benchcid${i.toString(16).padStart(24, "0")}`;

/** N VERIFIED technicians with a Getui push id, and the matching devices of the technician app. */
const seedSql = (n: number) => {
  const lines: string[] = [];
  for (let start = 0; start < n; start += SEED_ROWS_PER_INSERT) {
    const rows: string[] = [];
    for (let i = start; i < Math.min(n, start + SEED_ROWS_PER_INSERT); i++) {
      rows.push(`('1${String(3_000_000_000 + i)}','bench-not-a-hash','VERIFIED','${cidOf(i)}')`);
    }
    lines.push(
      `INSERT INTO technicians (phone, password_hash, status, push_id) VALUES\n${rows.join(",\n")};`,
    );
  }
  lines.push(
    `INSERT INTO devices (app_id, device_token, platform, provider, user_id)
SELECT (SELECT id FROM apps WHERE name = 'technician'), push_id, 'android', 'getui', CAST(id AS TEXT)
FROM technicians WHERE push_id LIKE 'benchcid%';`,
  );
  return `${lines.join("\n")}\n`;
};

// ---------------------------------------------------------------------------------------------
// wrangler dev

/** `--no-loopback-fix` runs wrangler dev without the keep-alive preload (see LOOPBACK_FIX). */
const loopbackFix = !process.argv.includes("--no-loopback-fix");

/** What the Worker's log says about the queue: consumer invocations and their durations. */
const queueStats = (text: string) => {
  const re = /QUEUE\s+(\S+)\s+(\d+)\/(\d+)\s+\((\d+)ms\)/g;
  const byQueue: Record<string, { invocations: number; messages: number; ms: number; maxMs: number }> = {};
  for (const m of text.matchAll(re)) {
    const name = m[1] ?? "?";
    const q = byQueue[name] ?? { invocations: 0, messages: 0, ms: 0, maxMs: 0 };
    byQueue[name] = q;
    const ms = Number(m[4]);
    q.invocations++;
    q.messages += Number(m[3]);
    q.ms += ms;
    q.maxMs = Math.max(q.maxMs, ms);
  }
  return byQueue;
};

// ---------------------------------------------------------------------------------------------
// The run

const round = (n: number, digits = 0) => Number(n.toFixed(digits));

const main = async () => {
  log(`NEW_ORDER to ${TECHNICIANS} VERIFIED technicians (time limit ${TIMEOUT_S} s)`);
  const load = { start: loadavg().map((l) => round(l, 2)), end: [] as number[] };
  spawnSync(process.execPath, ["scripts/ensure-dev-vars.mjs"], { cwd: ROOT, stdio: "inherit" });
  const adminToken = devVar("ADMIN_TOKEN");
  if (!adminToken) throw new Error(".dev.vars has no ADMIN_TOKEN");

  const standIn = await startStandIn();
  const getuiApp = {
    app_id: `bench${randomBytes(6).toString("hex")}`,
    app_key: randomBytes(12).toString("hex"),
    master_secret: randomBytes(12).toString("hex"),
  };
  const reg = await call(standIn, "POST", "/getui/_apps", {}, getuiApp);
  if (reg.status !== 204) throw new Error(`Getui stand-in: registering the app answered ${reg.status}`);
  log(`Getui stand-in on ${standIn}`);

  const state = mkdtempSync(path.join(tmpdir(), "edge-push-bench-"));
  stateDir = state;
  let t = performance.now();
  await wrangler(
    ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state],
    "applying migrations",
  );
  const migrateMs = performance.now() - t;
  log(`migrations applied in ${(migrateMs / 1000).toFixed(1)} s (${state})`);

  t = performance.now();
  const seedFile = path.join(state, "seed.sql");
  writeFileSync(seedFile, seedSql(TECHNICIANS));
  await wrangler(
    ["d1", "execute", "DB", "--local", "--persist-to", state, "--file", seedFile, "--yes"],
    "seeding technicians",
  );
  const seedMs = performance.now() - t;
  log(`seeded ${TECHNICIANS} technicians and devices in ${(seedMs / 1000).toFixed(1)} s`);

  t = performance.now();
  const config = buildBundle(state);
  dev = await startDev(
    config,
    state,
    { GETUI_ENDPOINT: `${standIn}/getui`, PUSH_RETRY_BASE_S: "1" },
    { loopbackFix, startMs: msLeft() },
  );
  const { base } = dev;
  const startMs = performance.now() - t;
  log(`wrangler dev on ${base} (built and started in ${(startMs / 1000).toFixed(1)} s)`);

  const admin = { authorization: `Bearer ${adminToken}` };
  const apps = await call(base, "GET", "/api/admin/apps", admin);
  const technicianApp = (apps.json as { name: string; appkey: string }[]).find?.(
    (a) => a.name === "technician",
  );
  if (apps.status !== 200 || !technicianApp) {
    throw new Error(`GET /api/admin/apps: ${apps.status} ${JSON.stringify(apps.json)}`);
  }
  const appkey = technicianApp.appkey;
  const creds = await call(base, "PUT", `/api/admin/apps/${appkey}/credentials/getui`, admin, getuiApp);
  if (creds.status !== 200)
    throw new Error(`Getui credentials: ${creds.status} ${JSON.stringify(creds.json)}`);
  const read = await pspReader(base, appkey, admin);
  const statusOf = (id: string) => read<TaskStatus>("/psp/push/status", `task_id=${id}`);
  const taskStatus = POLL_STATUS ? statusOf : null;

  // ------------------------------------------------------------------------- measured part
  const logOffset = devLog().length;
  const cpu0 = process.cpuUsage();
  const t0Wall = Date.now();
  const t0 = performance.now();
  const order = await call(base, "POST", "/api/admin/orders", admin, { orderType: 0 });
  const adminMs = performance.now() - t0;
  const answer = order.json as { task_id?: string; technicians?: number };
  if (order.status !== 201 || !answer.task_id) {
    throw new Error(`POST /api/admin/orders: ${order.status} ${JSON.stringify(order.json)}`);
  }
  const taskId = answer.task_id;
  log(`admin answered in ${adminMs.toFixed(0)} ms: task ${taskId}, ${answer.technicians} technicians`);
  if (answer.technicians !== TECHNICIANS) {
    log(`warning: the order went to ${answer.technicians} technicians, ${TECHNICIANS} were seeded`);
  }

  // Every technician has one Getui device: the run is over once N pushes arrived and nothing
  // more came for SETTLE_MS (the last batch's D1 writes and the task's `done` follow at once).
  let incomplete: string | null = null;
  let seen = 0;
  let progressAt = performance.now();
  let nextReport = progressAt + 5000;
  let polled: TaskStatus | null = null;
  for (;;) {
    const now = performance.now();
    if (getuiCounts.accepted !== seen) {
      seen = getuiCounts.accepted;
      progressAt = now;
    }
    if (seen >= TECHNICIANS && now - progressAt >= SETTLE_MS) break;
    if (now > deadline) {
      incomplete = `gave up after ${TIMEOUT_S} s (--timeout-s): ${seen}/${TECHNICIANS} Getui pushes arrived`;
      break;
    }
    if (now - progressAt > STALL_S * 1000) {
      incomplete = `stalled: no Getui push for ${STALL_S} s (--stall-s), ${seen}/${TECHNICIANS} arrived`;
      break;
    }
    if (dev.child.exitCode !== null) {
      throw new Error(`wrangler dev exited during the run:\n${devLog().slice(-4000)}`);
    }
    if (taskStatus) polled = (await taskStatus(taskId)) ?? polled;
    if (now >= nextReport) {
      nextReport = now + 5000;
      const p = polled ? `, task ${polled.status} ${JSON.stringify(polled.by_channel)}` : "";
      log(`  ${seen} Getui pushes${p}`);
    }
    await sleep(taskStatus ? POLL_MS : 100);
  }
  const cpu = process.cpuUsage(cpu0);
  const runLog = devLog().slice(logOffset);
  load.end = loadavg().map((l) => round(l, 2));
  // ------------------------------------------------------------------------- end of measured part

  // The task ends right after its last batch: poll until it says so (an upper bound on when).
  let task = await statusOf(taskId);
  let doneMs: number | null = null;
  for (let i = 0; i < 200 && !(task && ENDED.has(task.status)); i++) {
    await sleep(50);
    task = await statusOf(taskId);
  }
  if (task && ENDED.has(task.status)) doneMs = performance.now() - t0;
  // Per-target records, paged: states per channel and when the MQTT targets were published.
  const counts = new Map<string, number>();
  const mqttTimes: number[] = [];
  for (let cursor: string | null = ""; cursor !== null; ) {
    const page: TargetPage | null = await read<TargetPage>(
      "/psp/push/targets",
      `task_id=${taskId}&limit=500${cursor ? `&cursor=${cursor}` : ""}`,
    );
    if (!page) break;
    for (const t of page.targets) {
      const key = `${t.channel ?? "none"}/${t.state}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (t.channel === "mqtt") mqttTimes.push(Date.parse(t.updated_at));
    }
    cursor = page.next_cursor;
  }
  const targets = [...counts].map(([key, n]) => ({
    channel: key.split("/")[0],
    state: key.split("/")[1],
    n,
  }));
  await stopChild(dev.child);
  deadline = Math.max(deadline, performance.now()) + TEARDOWN_MS;
  // Server clock (same machine): when the MQTT publishes of the first and the last page were
  // recorded (right after they were made).
  const sinceStart = (at: number | undefined) => (at === undefined ? null : at - t0Wall);
  const mqttFirstMs = sinceStart(mqttTimes.length ? Math.min(...mqttTimes) : undefined);
  const mqttLastMs = sinceStart(mqttTimes.length ? Math.max(...mqttTimes) : undefined);
  const byMqtt = task?.by_channel.mqtt ?? null;
  if (!incomplete && task?.status !== "done")
    incomplete = `the task is ${task?.status ?? "missing"}, not done`;

  const lastPushMs = getuiCounts.lastAt ? getuiCounts.lastAt - t0 : null;
  const firstPushMs = getuiCounts.firstAt ? getuiCounts.firstAt - t0 : null;
  const ms = (n: number | null) => (n === null ? null : round(n));
  const report = {
    benchmark: "new-order",
    date: new Date().toISOString(),
    technicians: TECHNICIANS,
    completed: incomplete === null,
    ...(incomplete ? { error: incomplete } : {}),
    task_id: taskId,
    admin_answer_ms: round(adminMs),
    getui: {
      pushes: getuiCounts.accepted,
      refused: getuiCounts.rejected,
      auth_requests: getuiCounts.auth,
      first_push_ms: ms(firstPushMs),
      last_push_ms: ms(lastPushMs),
      pushes_per_s: lastPushMs ? round(getuiCounts.accepted / (lastPushMs / 1000), 1) : null,
    },
    mqtt: {
      by_channel_mqtt: byMqtt,
      first_page_published_ms: ms(mqttFirstMs),
      last_page_published_ms: ms(mqttLastMs),
      publishes_per_s: byMqtt && mqttLastMs ? round(byMqtt / (mqttLastMs / 1000), 1) : null,
    },
    task_done_ms: ms(doneMs),
    task_status: task ?? null,
    targets,
    queue: queueStats(runLog),
    worker_error_lines: runLog.split("\n").filter((l) => /error|✘|exceeded/i.test(l)).length,
    client_cpu_ms: {
      measured_user: round(cpu.user / 1000),
      measured_system: round(cpu.system / 1000),
      whole_script: round((process.cpuUsage().user + process.cpuUsage().system) / 1000),
    },
    setup_ms: { migrations: round(migrateMs), seed: round(seedMs), build_and_start: round(startMs) },
    status_polled: POLL_STATUS,
    loopback_keepalive_fix: loopbackFix,
    machine: { cpus: cpus().length, loadavg_1_5_15: load, node: process.version },
  };

  const sec = (n: number | null) => (n === null ? "—" : `${(n / 1000).toFixed(2)} s`);
  console.log(`
NEW_ORDER benchmark${incomplete ? " (INCOMPLETE)" : ""}
  technicians            ${TECHNICIANS}
  admin answer           ${sec(adminMs)}
  Getui pushes           ${getuiCounts.accepted} accepted (${getuiCounts.rejected} refused), first ${sec(firstPushMs)}, last ${sec(lastPushMs)}: ${report.getui.pushes_per_s ?? "—"} pushes/s
  MQTT (by_channel.mqtt) ${report.mqtt.by_channel_mqtt ?? "—"} published, first page ${sec(mqttFirstMs)}, last page ${sec(mqttLastMs)}: ${report.mqtt.publishes_per_s ?? "—"} publishes/s
  task reports done      ${sec(doneMs)}
  task row               ${JSON.stringify(task ?? null)}
  queue (worker log)     ${JSON.stringify(report.queue)}
  client CPU             ${report.client_cpu_ms.measured_user} ms user + ${report.client_cpu_ms.measured_system} ms system from the POST to the end (${report.client_cpu_ms.whole_script} ms whole script, Getui stand-in included)
  load average           ${load.start.join(" ")} → ${load.end.join(" ")} on ${cpus().length} CPUs`);

  const dir = path.join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = argValue("out") ?? path.join(dir, `new-order-${report.date.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwritten to ${path.relative(ROOT, file)}`);
  if (incomplete) {
    console.error(`\n${incomplete}`);
    process.exitCode = 1;
  }
};

try {
  await main();
} catch (err) {
  console.error(`\nbenchmark failed: ${describeError(err)}`);
  if (devLog()) console.error(`\nlast lines of wrangler dev:\n${devLog().slice(-3000)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
