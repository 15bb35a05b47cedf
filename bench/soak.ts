/**
 * `npm run soak`: the platform under steady load for minutes, with a server restart and an APNs
 * outage in the middle. Not part of `npm test`.
 *
 * - `wrangler dev` on a fixed loopback port and a fresh state folder; an APNs stand-in (Apple's
 *   paths, ES256 token check and error bodies) that this script can take down (503) for a while.
 * - `--connections` users (default 2,000) in family circles of 10, each one mqtt.js 3.1.1
 *   connection with a persistent session (clean session off, QoS 1 subscriptions to its user
 *   and group topics) that reconnects by itself; a tenth of them also have an iOS device.
 * - Steady traffic: `--group-rate` QoS 1 group messages per second from random members, and
 *   `--push-rate` partner pushes per second (customizedcast, silent) through the signed API,
 *   each reaching the user's MQTT session and, for users with a device, APNs.
 * - At 40 % of `--minutes` the server is stopped (SIGTERM) and started again on the same state;
 *   at 60 % APNs answers 503 for `--outage-s` seconds.
 * - Then traffic stops and deliveries drain; every QoS 1 message the platform acknowledged must
 *   reach every subscriber once (lost must be 0; duplicates are counted), and every accepted
 *   push must reach its user: over MQTT, or through APNs (a device's PUBACK that comes before
 *   the provider send cancels it, so a user is not notified twice). For a sample of missed
 *   pushes the report carries the platform's own answer (`GET /psp/push/trace`).
 *
 * It reports sent, received, duplicates and lost per kind, latency percentiles per 30 s window
 * (p99 drift), and the server's resident memory over time, also after every client has
 * disconnected. Results go to bench/results/soak-<date>.json.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { MqttClient } from "mqtt";
import { argValue, wholeArg } from "./lib/args";
import { connectClient, endClient } from "./lib/client";
import {
  buildBundle,
  call,
  devVar,
  freshState,
  inParallel,
  type PspApp,
  psp,
  ROOT,
  startDev,
} from "./lib/platform";
import { freePort, log, processTree, rssBytes, sleep, stopAll, stopChild } from "./lib/procs";
import { percentiles, round } from "./lib/stats";
import { startApnsStandIn } from "./scenarios/push-api";

const MINUTES = Number(argValue("minutes") ?? 5);
const CONNECTIONS = wholeArg("connections", 2000, 10);
const GROUP_RATE = wholeArg("group-rate", 100, 1);
const PUSH_RATE = wholeArg("push-rate", 20, 1);
const OUTAGE_S = wholeArg("outage-s", 30, 1);
const DRAIN_S = wholeArg("drain-s", 120, 10);
const APP = "soak";
const CIRCLE = 10;
const WINDOW_MS = 30_000;

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping what the soak started`);
    void stopAll().then(() => process.exit(130));
  });
}

type Delivery = {
  expected: Set<string>;
  got: Map<string, number>;
  at: number;
  sent: boolean;
  phase: string;
  /** The partner push's task (pushes only), to ask the platform why a target was missed. */
  taskId?: string;
};

/** What the run is doing, stamped on every message: where a loss happens tells why. */
let phase = "load";

/** Every message of the run by key, with who must get it and who did (and how often). */
const ledger = new Map<string, Delivery>();
const latencies: { at: number; ms: number }[] = [];
/** Device token → its user, and how many pushes APNs accepted. */
const deviceOwner = new Map<string, string>();
let apnsPushes = 0;

function expectDelivery(key: string, receivers: string[], at: number) {
  ledger.set(key, { expected: new Set(receivers), got: new Map(), at, sent: false, phase });
}

function receive(key: string, receiver: string) {
  const d = ledger.get(key);
  if (!d) return;
  d.got.set(receiver, (d.got.get(receiver) ?? 0) + 1);
  if (d.got.get(receiver) === 1) latencies.push({ at: d.at, ms: performance.now() - d.at });
}

type User = { id: string; group: string; device?: string; client?: MqttClient };

async function main() {
  mkdirSync(path.join(ROOT, "bench", "results"), { recursive: true });
  const apns = await startApnsStandIn((token, body) => {
    const seq = /"soak_seq":(\d+)/.exec(body)?.[1];
    if (seq) {
      receive(`push:${seq}`, `user:${deviceOwner.get(token) ?? token}`);
      apnsPushes++;
    }
  });
  const state = freshState("edge-push-soak-");
  const config = buildBundle(state);
  const port = await freePort();
  const vars = { APNS_ENDPOINT: `${apns.url}/apns`, PUSH_RETRY_BASE_S: "2" };
  let dev = await startDev(config, state, vars, { port });
  const base = dev.base;
  const admin = { authorization: `Bearer ${devVar("ADMIN_TOKEN")}` };
  log(`platform on ${base} (state ${state}); APNs stand-in on ${apns.url}`);

  // The app, its APNs key, users in circles of ten, a device for every tenth user.
  const app = (await call(base, "POST", "/api/admin/apps", admin, { name: APP })).json as PspApp;
  await call(base, "PUT", `/api/admin/apps/${app.appkey}`, admin, { push_rate_limit: 10_000 });
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await call(
    apns.url,
    "POST",
    "/apns/_keys",
    {},
    {
      key_id: "SOAKKEY001",
      team_id: "SOAKTEAM01",
      public_key_pem: publicKey.export({ type: "spki", format: "pem" }),
    },
  );
  const creds = await call(base, "PUT", `/api/admin/apps/${app.appkey}/credentials/apns`, admin, {
    team_id: "SOAKTEAM01",
    key_id: "SOAKKEY001",
    private_key: privateKey.export({ type: "pkcs8", format: "pem" }),
    topic: "com.example.soak",
    environment: "sandbox",
  });
  if (creds.status !== 200)
    throw new Error(`APNs credentials: ${creds.status} ${JSON.stringify(creds.json)}`);
  const users: User[] = Array.from({ length: CONNECTIONS }, (_, i) => ({
    id: `s${i}`,
    group: `c${Math.floor(i / CIRCLE)}`,
    device: i % 10 === 0 ? Buffer.from(`soak${i}`.padEnd(32, "x")).toString("hex") : undefined,
  }));
  const circles = [...new Set(users.map((u) => u.group))];
  const membersOf = new Map<string, string[]>();
  for (const u of users) membersOf.set(u.group, [...(membersOf.get(u.group) ?? []), `mqtt:${u.id}`]);
  await inParallel(circles, 8, async (g) => {
    await psp(base, app, "PUT", `/psp/groups/${g}`, { name: g });
    await psp(base, app, "POST", `/psp/groups/${g}/members`, {
      add: users.filter((u) => u.group === g).map((u) => u.id),
    });
  });
  await inParallel(
    users.filter((u) => u.device),
    8,
    async (u) => {
      await psp(base, app, "POST", "/psp/devices", {
        device_token: u.device,
        platform: "ios",
        provider: "apns",
        user_id: u.id,
      });
    },
  );
  const tokens = new Map<string, string>();
  await inParallel(users, 8, async (u) => {
    tokens.set(
      u.id,
      String((await psp(base, app, "POST", "/psp/mqtt/token", { sub: u.id, ttl_s: 86_400 })).token),
    );
  });
  log(
    `${users.length} users in ${circles.length} circles, ${users.filter((u) => u.device).length} iOS devices`,
  );

  // Connections: persistent sessions that reconnect by themselves.
  const ws = base.replace(/^http/, "ws");
  let reconnects = 0;
  const t0 = performance.now();
  await inParallel(users, 100, async (u) => {
    const client = await connectClient(`${ws}/mqtt?token=${tokens.get(u.id)}`, {
      clientId: u.id,
      clean: false,
      reconnectPeriod: 1000,
      keepalive: 60,
    });
    client.on("reconnect", () => reconnects++);
    client.on("message", (topic, payload) => {
      const text = payload.toString();
      const seq = /"(?:soak_seq|seq)":(\d+)/.exec(text)?.[1];
      if (!seq) return;
      if (topic.includes("/group/")) receive(`group:${seq}`, `mqtt:${u.id}`);
      else receive(`push:${seq}`, `user:${u.id}`);
    });
    await client.subscribeAsync([`${APP}/user/${u.id}/#`, `${APP}/group/${u.group}/#`], { qos: 1 });
    u.client = client;
  });
  log(`connected ${users.length} in ${round((performance.now() - t0) / 1000, 1)} s`);

  // Memory over time.
  const memory: { s: number; rss_mb: number; phase: string }[] = [];
  const sampleMemory = () =>
    memory.push({
      s: round((performance.now() - t0) / 1000),
      rss_mb: round(rssBytes(processTree(dev.child.pid ?? 0)) / 2 ** 20),
      phase,
    });
  const memTimer = setInterval(sampleMemory, 5000);

  // Traffic.
  const durationMs = MINUTES * 60_000;
  const start = performance.now();
  let groupSeq = 0;
  let pushSeq = 0;
  const pushes = { accepted: 0, refused: 0 };
  const group = { published: 0, unconfirmed: 0 };
  let restarted = false;
  let outage = false;
  const restartAt = durationMs * 0.4;
  const outageAt = durationMs * 0.6;
  let restartMs = 0;

  const tick = async () => {
    for (let i = 0; i < GROUP_RATE / 10; i++) {
      const u = users[Math.floor(Math.random() * users.length)] as User;
      const seq = ++groupSeq;
      const key = `group:${seq}`;
      const members = membersOf.get(u.group) ?? [];
      expectDelivery(key, members, performance.now());
      u.client?.publish(
        `${APP}/group/${u.group}/chat`,
        JSON.stringify({ seq, from: u.id }),
        { qos: 1 },
        (err) => {
          const d = ledger.get(key);
          if (err || !d) group.unconfirmed++;
          else {
            d.sent = true;
            group.published++;
          }
        },
      );
    }
    for (let i = 0; i < PUSH_RATE / 10; i++) {
      const u = users[Math.floor(Math.random() * users.length)] as User;
      const seq = ++pushSeq;
      const key = `push:${seq}`;
      // Reached once per user: over MQTT, or through APNs when the device's PUBACK did not come
      // first (a PUBACK before the provider send cancels it, CONTRACT §2).
      expectDelivery(key, [`user:${u.id}`], performance.now());
      if (u.device) deviceOwner.set(u.device, u.id);
      psp(base, app, "POST", "/psp/push/msg", {
        type: "customizedcast",
        alias: u.id,
        payload: { display_type: "message", body: { custom: { push_type: "soak", soak_seq: seq } } },
      }).then(
        (data) => {
          pushes.accepted++;
          const d = ledger.get(key);
          if (d) {
            d.sent = true;
            d.taskId = String(data.task_id);
          }
        },
        () => pushes.refused++,
      );
    }
  };

  while (performance.now() - start < durationMs) {
    const elapsed = performance.now() - start;
    if (!restarted && elapsed > restartAt) {
      restarted = true;
      phase = "restart";
      log("restart: stopping the server (SIGTERM)");
      const r0 = performance.now();
      await stopChild(dev.child);
      dev = await startDev(config, state, vars, { port });
      restartMs = performance.now() - r0;
      log(`restart: serving again after ${round(restartMs / 1000, 1)} s`);
      phase = "after-restart";
    }
    if (!outage && elapsed > outageAt) {
      outage = true;
      log(`APNs outage: 503 for ${OUTAGE_S} s`);
      apns.outage(OUTAGE_S);
      phase = "apns-outage";
      setTimeout(() => {
        phase = "after-outage";
      }, OUTAGE_S * 1000);
    }
    await tick();
    await sleep(100);
  }
  log(`traffic stopped: ${group.published} group messages acknowledged, ${pushes.accepted} pushes accepted`);

  // Drain: wait until every acknowledged message has reached everyone, or DRAIN_S.
  phase = "drain";
  const drainStart = performance.now();
  const missing = () => {
    let n = 0;
    for (const d of ledger.values()) if (d.sent) for (const r of d.expected) if (!d.got.has(r)) n++;
    return n;
  };
  while (missing() > 0 && performance.now() - drainStart < DRAIN_S * 1000) await sleep(1000);
  const drainS = round((performance.now() - drainStart) / 1000, 1);

  // For a sample of missed push targets, the platform's own answer (GET /psp/push/trace).
  const explained: { target: string; phase: string; state?: unknown; why?: unknown; last?: unknown }[] = [];
  for (const d of ledger.values()) {
    if (explained.length >= 12 || !d.taskId) continue;
    for (const r of d.expected) {
      if (d.got.has(r) || explained.length >= 12) continue;
      const by = `user_id=${r.split(":")[1]}`;
      try {
        const t = await psp(base, app, "GET", `/psp/push/trace?task_id=${d.taskId}&${by}`);
        const events = t.events as { state: string; detail?: string }[] | undefined;
        explained.push({ target: r, phase: d.phase, state: t.state, why: t.why, last: events?.at(-1) });
      } catch (err) {
        explained.push({ target: r, phase: d.phase, why: `trace failed: ${String(err)}` });
      }
    }
  }

  // Disconnect everyone; memory should come back down.
  phase = "disconnected";
  await inParallel(users, 200, async (u) => {
    if (u.client) await endClient(u.client);
  });
  await sleep(30_000);
  sampleMemory();
  clearInterval(memTimer);

  const summary = {
    ...report(drainS, restartMs, reconnects, pushes, group, memory),
    missed_push_traces: explained,
  };
  const file = path.join(ROOT, "bench", "results", `soak-${new Date().toISOString().slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  log(`results in ${path.relative(ROOT, file)}`);
  console.log(JSON.stringify(summary, null, 2));
  await stopChild(dev.child);
  await apns.close();
  const lost = summary.group.lost + summary.push.lost;
  process.exit(lost === 0 ? 0 : 1);
}

function tally(prefix: string) {
  let sent = 0;
  let expected = 0;
  let received = 0;
  let duplicates = 0;
  let lost = 0;
  const lostBy: Record<string, number> = {};
  for (const [key, d] of ledger) {
    if (!key.startsWith(prefix) || !d.sent) continue;
    sent++;
    expected += d.expected.size;
    for (const r of d.expected) {
      const n = d.got.get(r) ?? 0;
      if (n === 0) {
        lost++;
        const where = `${r.split(":")[0]} / published ${d.phase}`;
        lostBy[where] = (lostBy[where] ?? 0) + 1;
      } else {
        received++;
        duplicates += n - 1;
      }
    }
  }
  return {
    sent,
    expected_deliveries: expected,
    received,
    duplicates,
    lost,
    lost_by_channel_and_phase: lostBy,
  };
}

function report(
  drainS: number,
  restartMs: number,
  reconnects: number,
  pushes: { accepted: number; refused: number },
  group: { published: number; unconfirmed: number },
  memory: { s: number; rss_mb: number; phase: string }[],
) {
  const first = latencies[0]?.at ?? 0;
  const windows = new Map<number, number[]>();
  for (const l of latencies) {
    const w = Math.floor((l.at - first) / WINDOW_MS);
    const list = windows.get(w) ?? [];
    list.push(l.ms);
    windows.set(w, list);
  }
  const loadRss = memory
    .filter((m) => !["restart", "drain", "disconnected"].includes(m.phase))
    .map((m) => m.rss_mb);
  return {
    date: new Date().toISOString(),
    command: `npm run soak -- ${process.argv.slice(2).join(" ")}`.trim(),
    minutes: MINUTES,
    connections: CONNECTIONS,
    group_rate_per_s: GROUP_RATE,
    push_rate_per_s: PUSH_RATE,
    restart_s: round(restartMs / 1000, 1),
    apns_outage_s: OUTAGE_S,
    client_reconnects: reconnects,
    drain_s: drainS,
    group: { ...tally("group:"), unconfirmed_by_platform: group.unconfirmed },
    push: {
      ...tally("push:"),
      accepted: pushes.accepted,
      refused_by_api: pushes.refused,
      through_apns: apnsPushes,
    },
    latency_ms_per_30s: [...windows.entries()].map(([w, ms]) => ({
      from_s: (w * WINDOW_MS) / 1000,
      ...percentiles(ms),
    })),
    memory_mb: {
      load_min: Math.min(...loadRss),
      load_max: Math.max(...loadRss),
      after_disconnect: memory[memory.length - 1]?.rss_mb,
      samples: memory,
    },
  };
}

main().catch(async (err) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
