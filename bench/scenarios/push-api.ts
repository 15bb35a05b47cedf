/**
 * The partner push API of the platform (no counterpart in Mosquitto or Aedes):
 * - signed `POST /psp/push/msg` under load (autocannon): accepted per second, latency;
 * - one groupcast to 1,000 live MQTT subscribers: time until the last one has it;
 * - one groupcast to 1,000 offline users with an iOS device each: time until the APNs stand-in
 *   accepted the last of them.
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { createApnsStandIn } from "../../test/stand-ins/apns";
import type { PlatformBroker } from "../lib/brokers";
import { call, inParallel, psp, signed } from "../lib/platform";
import { cpuSeconds, log, sleep } from "../lib/procs";
import { percentiles, round } from "../lib/stats";
import type { Rig } from "./messaging";

// ---------------------------------------------------------------------------------------------
// APNs stand-in with a counter of accepted pushes

export type ApnsCounter = {
  url: string;
  accepted: () => number;
  lastAt: () => number;
  /** Answers every push with 503 ServiceUnavailable (Retry-After 5) for `seconds`. */
  outage: (seconds: number) => void;
  close: () => Promise<void>;
};

/** The APNs stand-in on loopback, counting accepted pushes; `onAccepted` sees each one. */
export const startApnsStandIn = async (
  onAccepted?: (token: string, body: string) => void,
): Promise<ApnsCounter> => {
  const apns = createApnsStandIn();
  let accepted = 0;
  let lastAt = 0;
  let downUntil = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const body = Buffer.concat(chunks).toString("utf8");
      const push = url.pathname.startsWith("/apns/3/device/");
      if (push && Date.now() < downUntil) {
        res.writeHead(503, { "content-type": "application/json", "retry-after": "5" });
        res.end(JSON.stringify({ reason: "ServiceUnavailable" }));
        return;
      }
      try {
        if (!(await apns(req, res, url, body))) res.writeHead(404).end();
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
      if (push && res.statusCode === 200) {
        accepted++;
        lastAt = performance.now();
        onAccepted?.(decodeURIComponent(url.pathname.split("/").pop() ?? ""), body);
      }
    });
  });
  server.keepAliveTimeout = 0; // workerd pools connections; see scripts/loopback-keepalive.cjs
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    accepted: () => accepted,
    lastAt: () => lastAt,
    outage: (seconds) => {
      downUntil = Date.now() + seconds * 1000;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

// ---------------------------------------------------------------------------------------------
// Accepted pushes per second

export type PushLoadResult = {
  scenario: "push API load";
  /** Deferred: every push scheduled an hour ahead, so no delivery work competes with the API. */
  deferred: boolean;
  connections: number;
  seconds: number;
  requests: number;
  accepted: number;
  refused: number;
  errors: number;
  accepted_per_s: number;
  latency_ms: { p50: number; p97_5: number; p99: number; max: number };
  client_cpu_pct: number;
  broker_cpu_pct: number;
};

export const runPushLoad = async (
  platform: PlatformBroker,
  connections: number,
  seconds: number,
  deferred: boolean,
): Promise<PushLoadResult> => {
  const policy = deferred ? { start_time: new Date(Date.now() + 3600_000).toISOString() } : undefined;
  const { base } = platform.dev;
  const pathname = "/psp/push/msg";
  let n = 0;
  const pids = platform.pids();
  const cpu0 = process.cpuUsage();
  const bcpu0 = cpuSeconds(pids);
  const t0 = performance.now();
  const result = await autocannon({
    url: base,
    connections,
    duration: seconds,
    requests: [
      {
        method: "POST",
        setupRequest: (req) => {
          n++;
          const body = JSON.stringify({
            type: "customizedcast",
            alias: `load${n % 1000}`,
            payload: { display_type: "message", body: { custom: { push_type: "load", n } } },
            ...(policy ? { policy } : {}),
          });
          return { ...req, ...signed(base, platform.app, "POST", pathname, body), body };
        },
      },
    ],
  });
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const bcpu = cpuSeconds(pids) - bcpu0;
  const accepted = result["2xx"];
  const out: PushLoadResult = {
    scenario: "push API load",
    deferred,
    connections,
    seconds: round(result.duration, 1),
    requests: result.requests.total,
    accepted,
    refused: result.non2xx,
    errors: result.errors + result.timeouts,
    accepted_per_s: round(accepted / result.duration),
    latency_ms: {
      p50: result.latency.p50,
      p97_5: result.latency.p97_5,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    client_cpu_pct: round(((cpu.user + cpu.system) / 1e6 / wall) * 100),
    broker_cpu_pct: round((bcpu / wall) * 100),
  };
  log(
    `  push API${deferred ? " (delivery deferred)" : ""}: ${out.accepted_per_s} accepted/s (${accepted} accepted, ${out.refused} refused, ${out.errors} errors), ` +
      `p50 ${out.latency_ms.p50} ms, p99 ${out.latency_ms.p99} ms, CPU client ${out.client_cpu_pct}% platform ${out.broker_cpu_pct}%`,
  );
  return out;
};

// ---------------------------------------------------------------------------------------------
// Groupcast to live MQTT subscribers

export type GroupcastResult = {
  scenario: string;
  targets: number;
  runs: number;
  /** Per run: ms from sending the API call to the last delivery. */
  last_delivery_ms: number[];
  api_answer_ms: number[];
  median_last_delivery_ms: number | null;
  reached: number[];
  error?: string;
};

const summary = (scenario: string, targets: number, last: number[], api: number[], reached: number[]) => ({
  scenario,
  targets,
  runs: last.length,
  last_delivery_ms: last.map((v) => round(v)),
  api_answer_ms: api.map((v) => round(v)),
  median_last_delivery_ms: percentiles(last).p50,
  reached,
});

const groupcast = (platform: PlatformBroker, groupId: string, payload: Record<string, unknown>) =>
  psp(platform.dev.base, platform.app, "POST", "/psp/push/msg", {
    type: "groupcast",
    group_id: groupId,
    payload,
  });

/** Groupcasts to the fan-out rig's group (its subscribers are connected) and times the deliveries. */
export const runGroupcastMqtt = async (
  platform: PlatformBroker,
  rig: Rig,
  runs: number,
): Promise<GroupcastResult> => {
  const targets = rig.shape.roles.filter((r) => r.filter).length;
  const last: number[] = [];
  const api: number[] = [];
  const reached: number[] = [];
  let error: string | undefined;
  for (let run = 0; run < runs; run++) {
    let got = 0;
    let lastAt = 0;
    rig.onMessage((_i, p) => {
      try {
        if ((JSON.parse(p.toString()) as { run?: number }).run === run) {
          got++;
          lastAt = performance.now();
        }
      } catch {
        // a binary message of another scenario
      }
    });
    const t0 = performance.now();
    await groupcast(platform, "fan", {
      display_type: "message",
      body: { custom: { push_type: "bench", run } },
    });
    api.push(performance.now() - t0);
    const until = performance.now() + 30_000;
    while (got < targets && performance.now() < until) await sleep(5);
    reached.push(got);
    if (got < targets) error = `run ${run}: ${got}/${targets} subscribers reached within 30 s`;
    last.push((got < targets ? performance.now() : lastAt) - t0);
    await sleep(500);
  }
  rig.onMessage(null);
  const out = {
    ...summary("groupcast to MQTT subscribers", targets, last, api, reached),
    ...(error ? { error } : {}),
  };
  log(`  groupcast → ${targets} MQTT subscribers: last delivery after ${out.last_delivery_ms.join(", ")} ms`);
  return out;
};

/** 1,000 offline users with one iOS device each, in one group; APNs credentials on the stand-in. */
export const prepareApnsAudience = async (platform: PlatformBroker, apns: ApnsCounter, users: number) => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const keyId = "BENCHKEY01";
  const teamId = "BENCHTEAM1";
  const topic = "com.example.bench";
  const reg = await call(
    apns.url,
    "POST",
    "/apns/_keys",
    {},
    {
      key_id: keyId,
      team_id: teamId,
      public_key_pem: publicKey.export({ type: "spki", format: "pem" }),
    },
  );
  if (reg.status >= 300) throw new Error(`APNs stand-in key: ${reg.status}`);
  const creds = await call(
    platform.dev.base,
    "PUT",
    `/api/admin/apps/${platform.app.appkey}/credentials/apns`,
    platform.admin,
    {
      team_id: teamId,
      key_id: keyId,
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }),
      topic,
      environment: "sandbox",
    },
  );
  if (creds.status !== 200)
    throw new Error(`APNs credentials: ${creds.status} ${JSON.stringify(creds.json)}`);
  const ids = Array.from({ length: users }, (_, i) => `off${i}`);
  await inParallel(ids, 8, async (id) => {
    const token = Buffer.from(id.padEnd(32, "x")).toString("hex");
    await psp(platform.dev.base, platform.app, "POST", "/psp/devices", {
      device_token: token,
      platform: "ios",
      provider: "apns",
      user_id: id,
    });
  });
  await platform.prepareGroups([{ id: "offline", members: ids }]);
  return true;
};

export const runGroupcastApns = async (
  platform: PlatformBroker,
  apns: ApnsCounter,
  users: number,
  runs: number,
): Promise<GroupcastResult> => {
  const last: number[] = [];
  const api: number[] = [];
  const reached: number[] = [];
  let error: string | undefined;
  for (let run = 0; run < runs; run++) {
    const before = apns.accepted();
    const t0 = performance.now();
    await groupcast(platform, "offline", {
      display_type: "notification",
      body: { title: "bench", text: `run ${run}` },
    });
    api.push(performance.now() - t0);
    const until = performance.now() + 120_000;
    while (apns.accepted() - before < users && performance.now() < until) await sleep(20);
    const got = apns.accepted() - before;
    reached.push(got);
    if (got < users) error = `run ${run}: ${got}/${users} APNs pushes within 120 s`;
    last.push((got < users ? performance.now() : apns.lastAt()) - t0);
    await sleep(1000);
  }
  const out = {
    ...summary("groupcast to offline iOS devices (APNs)", users, last, api, reached),
    ...(error ? { error } : {}),
  };
  log(
    `  groupcast → ${users} offline iOS devices: last APNs push after ${out.last_delivery_ms.join(", ")} ms`,
  );
  return out;
};
