/**
 * `npm run bench`: this platform side by side with Mosquitto and Aedes, one client process.
 *
 *   npm run bench [-- --quick] [--only fan-out,p2p,circles,burst,connections,push,new-order,codec]
 *                 [--brokers platform,mosquitto,aedes] [--technicians N] [--max-connections N]
 *                 [--drain-seconds N]
 *
 * Installs Mosquitto from Debian's packages when it is missing (Aedes is a dev dependency), then
 * for each broker in turn: starts it on loopback (the platform with `wrangler dev` on a fresh
 * local state), runs the message and connection scenarios with mqtt.js clients in this process
 * (the overload burst last), and stops it by its PID. The platform also gets the push API
 * scenarios; NEW_ORDER runs
 * bench/new-order.ts; the codec runs bench/codec.bench.ts. Writes bench/results/<date>.json and
 * the table between the markers in docs/benchmarks.md. See docs/benchmarks.md.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import path from "node:path";
import { argValue, wholeArg } from "./lib/args";
import {
  type Broker,
  ensureMosquitto,
  type PlatformBroker,
  startAedes,
  startMosquitto,
  startPlatform,
} from "./lib/brokers";
import { ROOT } from "./lib/platform";
import { describeError, log, stopAll, stopOnSignal } from "./lib/procs";
import { markdown, type Report } from "./lib/report";
import { runBurst } from "./scenarios/burst";
import { runConnections } from "./scenarios/connections";
import {
  circlesShape,
  closeRig,
  connectRig,
  fanOutShape,
  type MessagingResult,
  pointToPointShape,
  runMessaging,
} from "./scenarios/messaging";
import {
  type ApnsCounter,
  prepareApnsAudience,
  runGroupcastApns,
  runGroupcastMqtt,
  runPushLoad,
  startApnsStandIn,
} from "./scenarios/push-api";

// ---------------------------------------------------------------------------------------------
// Arguments

const args = process.argv.slice(2);
const list = (name: string, all: string[]) => {
  const v = argValue(name);
  if (v === undefined) return all;
  const picked = v.split(",").map((s) => s.trim());
  const unknown = picked.filter((p) => !all.includes(p));
  if (unknown.length) {
    console.error(`--${name}: unknown ${unknown.join(", ")} (choose from ${all.join(", ")})`);
    process.exit(2);
  }
  return picked;
};

const QUICK = args.includes("--quick");
const ALL_SCENARIOS = ["fan-out", "p2p", "circles", "burst", "connections", "push", "new-order", "codec"];
const SCENARIOS = list("only", ALL_SCENARIOS);
const BROKERS = list("brokers", ["platform", "mosquitto", "aedes"]);
const P = {
  fanOutSubscribers: QUICK ? 200 : 1000,
  fanOutMessages: QUICK ? 20 : 100,
  pairs: QUICK ? 50 : 200,
  pairMessages: QUICK ? 20 : 100,
  circles: wholeArg("circles", QUICK ? 50 : 150),
  circleSize: 10,
  circleMessages: QUICK ? 3 : 5,
  circleIntervalMs: 5000,
  burstSubscribers: QUICK ? 200 : 1000,
  burstSeconds: QUICK ? 3 : 10,
  burstDrainSeconds: wholeArg("drain-seconds", 60),
  connections: QUICK ? 300 : 2000,
  maxConnections: wholeArg("max-connections", QUICK ? 500 : 5000),
  holdSeconds: QUICK ? 3 : 10,
  groupcastRuns: QUICK ? 2 : 5,
  apnsDevices: QUICK ? 200 : 1000,
  apnsRuns: QUICK ? 1 : 3,
  pushConnections: 32,
  pushSeconds: QUICK ? 5 : 15,
  technicians: wholeArg("technicians", QUICK ? 500 : 10_000),
};

// ---------------------------------------------------------------------------------------------

const results: Report = {
  date: new Date().toISOString(),
  quick: QUICK,
  parameters: P,
  machine: {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? "?",
    memory_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadavg_start: loadavg(),
  },
  brokers: {},
  messaging: [],
  burst: [],
  connections: [],
  push: [],
  errors: [],
};

let apns: ApnsCounter | undefined;
const cleanup = async () => {
  await stopAll();
  await apns?.close();
};
stopOnSignal(cleanup);

const attempt = async <T>(what: string, work: () => Promise<T>): Promise<T | undefined> => {
  try {
    return await work();
  } catch (err) {
    const message = `${what}: ${describeError(err)}`;
    log(`FAILED ${message}`);
    results.errors.push(message);
    return undefined;
  }
};

const messaging = async (broker: Broker, platform: PlatformBroker | undefined) => {
  const add = (r: MessagingResult | undefined) => r && results.messaging.push(r);
  if (SCENARIOS.includes("fan-out")) {
    const rig = await attempt(`fan-out on ${broker.name}`, () =>
      connectRig(broker, fanOutShape(P.fanOutSubscribers, P.fanOutMessages)),
    );
    if (rig) {
      log(`fan-out: ${rig.clients.length} connections ready in ${rig.setupSeconds} s`);
      for (const qos of [0, 1] as const)
        add(await attempt(`fan-out QoS ${qos}`, () => runMessaging(broker, rig, qos)));
      if (platform && SCENARIOS.includes("push")) {
        const r = await attempt("groupcast to MQTT", () => runGroupcastMqtt(platform, rig, P.groupcastRuns));
        if (r) results.push.push(r);
      }
      await closeRig(rig);
    }
  }
  if (SCENARIOS.includes("p2p")) {
    const rig = await attempt(`point-to-point on ${broker.name}`, () =>
      connectRig(broker, pointToPointShape(P.pairs, P.pairMessages)),
    );
    if (rig) {
      log(`point-to-point: ${rig.clients.length} connections ready in ${rig.setupSeconds} s`);
      for (const qos of [0, 1] as const)
        add(await attempt(`p2p QoS ${qos}`, () => runMessaging(broker, rig, qos)));
      await closeRig(rig);
    }
  }
  if (SCENARIOS.includes("circles")) {
    const shape = circlesShape(P.circles, P.circleSize, P.circleMessages, P.circleIntervalMs);
    const rig = await attempt(`family circles on ${broker.name}`, () => connectRig(broker, shape));
    if (rig) {
      log(`family circles: ${rig.clients.length} connections ready in ${rig.setupSeconds} s`);
      for (const qos of [0, 1] as const)
        add(await attempt(`circles QoS ${qos}`, () => runMessaging(broker, rig, qos)));
      await closeRig(rig);
    }
  }
};

/**
 * Idle connections on a fresh instance of the broker: the step-up runs until something breaks
 * (wrangler dev's proxy runs out of file descriptors around 3,000), so it comes last and alone.
 */
const connections = async (name: string) => {
  const broker =
    name === "platform"
      ? await startPlatform({})
      : name === "mosquitto"
        ? await startMosquitto(ROOT_STATE)
        : await startAedes();
  try {
    const r = await attempt(`connections on ${name}`, () =>
      runConnections(broker, P.connections, P.maxConnections, P.holdSeconds),
    );
    if (r) results.connections.push(r);
  } finally {
    await broker.stop();
  }
};

const runBroker = async (name: string) => {
  let broker: Broker | undefined;
  let platform: PlatformBroker | undefined;
  log(`— ${name} —`);
  if (name === "platform") {
    apns = await startApnsStandIn();
    platform = await startPlatform({ APNS_ENDPOINT: `${apns.url}/apns`, PUSH_RETRY_BASE_S: "1" });
    broker = platform;
  } else if (name === "mosquitto") broker = await startMosquitto(ROOT_STATE);
  else broker = await startAedes();
  results.brokers[name] = { pid: broker.pids()[0] };
  try {
    await messaging(broker, platform);
    if (platform && apns && SCENARIOS.includes("push")) {
      const counter = apns;
      const ready = await attempt("APNs audience", () =>
        prepareApnsAudience(platform, counter, P.apnsDevices),
      );
      if (ready) {
        const r = await attempt("groupcast to APNs", () =>
          runGroupcastApns(platform, counter, P.apnsDevices, P.apnsRuns),
        );
        if (r) results.push.push(r);
      }
      // The API alone first (pushes scheduled an hour ahead), then with delivery running; last,
      // because the pushes it accepts keep the local queue busy for a while afterwards.
      for (const deferred of [true, false]) {
        const load = await attempt("push API load", () =>
          runPushLoad(platform, P.pushConnections, P.pushSeconds, deferred),
        );
        if (load) results.push.push(load);
      }
    }
    // Last: a broker that has not drained by the deadline is still busy afterwards.
    if (SCENARIOS.includes("burst")) {
      const r = await attempt(`burst on ${name}`, () =>
        runBurst(broker, P.burstSubscribers, P.burstSeconds, P.burstDrainSeconds),
      );
      if (r) results.burst.push(r);
    }
  } finally {
    const errorLines =
      platform?.dev
        .output()
        .split("\n")
        .filter((l) => /✘|exceeded|Uncaught/i.test(l)) ?? [];
    if (errorLines.length)
      results.errors.push(
        `platform log: ${errorLines.length} error lines, first: ${errorLines[0]?.slice(0, 300)}`,
      );
    if (platform) {
      const file = path.join(tmpdir(), "edge-push-bench-platform.log");
      writeFileSync(file, platform.dev.output());
      log(`wrangler dev's output: ${file}`);
    }
    await broker.stop();
    await apns?.close();
    apns = undefined;
  }
};

const newOrder = async () => {
  const out = path.join(ROOT_STATE, "new-order.json");
  log(`— NEW_ORDER to ${P.technicians} technicians (bench/new-order.ts) —`);
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", "bench/new-order.ts", "--technicians", String(P.technicians), "--out", out],
    { cwd: ROOT, stdio: "inherit" },
  );
  if (!existsSync(out)) throw new Error(`bench/new-order.ts wrote no report (exit ${r.status})`);
  results.new_order = JSON.parse(readFileSync(out, "utf8"));
};

const codec = async () => {
  const out = path.join(ROOT_STATE, "codec.json");
  log("— codec (bench/codec.bench.ts) —");
  const vitest = path.join(ROOT, "node_modules", ".bin", "vitest");
  spawnSync(vitest, ["bench", "--run", "--project", "unit", "--outputJson", out], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (!existsSync(out)) throw new Error("vitest bench wrote no report");
  const json = JSON.parse(readFileSync(out, "utf8")) as {
    files: { groups: { fullName: string; benchmarks: { name: string; hz: number; rme: number }[] }[] }[];
  };
  results.codec = json.files.flatMap((f) =>
    f.groups.flatMap((g) =>
      g.benchmarks.map((b) => ({
        group: g.fullName.split(" > ").pop() ?? g.fullName,
        name: b.name,
        hz: Math.round(b.hz),
        rme_pct: Number(b.rme.toFixed(1)),
      })),
    ),
  );
};

const ROOT_STATE = path.join(ROOT, "bench", ".state");

const main = async () => {
  rmSync(ROOT_STATE, { recursive: true, force: true });
  mkdirSync(ROOT_STATE, { recursive: true });
  if (BROKERS.includes("mosquitto")) ensureMosquitto();
  if (SCENARIOS.includes("codec")) await attempt("codec", codec);
  for (const name of BROKERS) {
    await attempt(`broker ${name}`, () => runBroker(name));
    if (SCENARIOS.includes("connections")) await attempt(`connections on ${name}`, () => connections(name));
  }
  if (SCENARIOS.includes("new-order")) await attempt("NEW_ORDER", newOrder);
  results.machine.loadavg_end = loadavg();

  const dir = path.join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const day = results.date.slice(0, 10);
  let file = path.join(dir, `${day}.json`);
  for (let k = 2; existsSync(file); k++) file = path.join(dir, `${day}-${k}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  const table = markdown(results, path.relative(ROOT, file));
  console.log(`\n${table}`);
  if (!QUICK && SCENARIOS.length === ALL_SCENARIOS.length && BROKERS.length === 3) {
    const docs = path.join(ROOT, "docs", "benchmarks.md");
    const text = readFileSync(docs, "utf8");
    const start = "<!-- bench:start -->";
    const end = "<!-- bench:end -->";
    if (text.includes(start) && text.includes(end)) {
      writeFileSync(
        docs,
        `${text.slice(0, text.indexOf(start) + start.length)}\n${table}\n${text.slice(text.indexOf(end))}`,
      );
      log("table written to docs/benchmarks.md");
    }
  }
  log(`results written to ${path.relative(ROOT, file)}`);
  if (results.errors.length) {
    console.error(`\n${results.errors.length} part(s) failed:\n- ${results.errors.join("\n- ")}`);
    process.exitCode = 1;
  }
};

try {
  await main();
} finally {
  await cleanup();
  rmSync(ROOT_STATE, { recursive: true, force: true });
}
