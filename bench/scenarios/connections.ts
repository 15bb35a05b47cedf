/**
 * Idle connections (keepalive 60 s): how fast they are accepted, how many fail, how much memory
 * each costs the broker, and whether they are all still there after a quiet spell. After the
 * first `target` connections, more are added in steps until a step fails or `max` is reached.
 */
import { performance } from "node:perf_hooks";
import type { MqttClient } from "mqtt";
import type { Broker } from "../lib/brokers";
import { connectClient, endClient } from "../lib/client";
import { inParallel } from "../lib/platform";
import { cpuSeconds, describeError, log, openFds, rssBytes, sleep } from "../lib/procs";
import { percentiles, round } from "../lib/stats";

export type ConnectionsResult = {
  scenario: "connections";
  broker: string;
  target: number;
  connected: number;
  failed: number;
  connects_per_s: number;
  /** From opening the WebSocket to the CONNACK, per connection of the first `target`, ms. */
  connack_p50_ms: number | null;
  connack_p99_ms: number | null;
  /** Broker CPU-seconds (user + system of its processes) per thousand connects. */
  broker_cpu_s_per_1k_connects: number;
  /** Resident memory of the broker's processes per idle connection, KiB. */
  kib_per_connection: number;
  /** Open file descriptors of the broker's processes per idle connection (sockets, storage files). */
  fds_per_connection: number;
  still_connected_after_hold: number;
  hold_seconds: number;
  /** The most connections held at once, stepping up past `target` until a step failed or the cap. */
  most_held: number;
  cap: number;
  first_failure?: string;
  client_cpu_pct: number;
  broker_cpu_pct: number;
  broker_rss_mb: number;
};

/** Connections opening at once (issue 11's connect storm: 2,000, 100 at a time). */
const IN_FLIGHT = 100;

export const userOf = (i: number) => `idle${i}`;

const connectMany = async (
  broker: Broker,
  from: number,
  to: number,
  into: MqttClient[],
  failures: string[],
  connackMs: number[] = [],
) => {
  const ids = Array.from({ length: to - from }, (_, k) => from + k);
  await broker.prepareUsers(ids.map(userOf));
  await inParallel(ids, IN_FLIGHT, async (i) => {
    try {
      const t = performance.now();
      const c = await connectClient(await broker.urlFor(userOf(i)), {
        clientId: `${userOf(i)}-idle`,
        clean: true,
      });
      connackMs.push(performance.now() - t);
      into.push(c);
    } catch (err) {
      failures.push(describeError(err));
    }
  });
};

export const runConnections = async (
  broker: Broker,
  target: number,
  cap: number,
  holdSeconds: number,
): Promise<ConnectionsResult> => {
  const clients: MqttClient[] = [];
  const failures: string[] = [];
  const pids = broker.pids();
  // Tokens are the platform's part of a device's setup, not of its connection: minted first.
  await broker.prepareUsers(Array.from({ length: target }, (_, i) => userOf(i)));
  const rss0 = rssBytes(pids);
  const fds0 = openFds(pids);
  const cpu0 = process.cpuUsage();
  const bcpu0 = cpuSeconds(pids);
  const t0 = performance.now();
  const connackMs: number[] = [];
  await connectMany(broker, 0, target, clients, failures, connackMs);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const bcpu = cpuSeconds(pids) - bcpu0;
  const connected = clients.length;
  const failed = failures.length;
  await sleep(holdSeconds * 1000);
  const rss1 = rssBytes(pids);
  const fds1 = openFds(pids);
  const still = clients.filter((c) => c.connected).length;
  const connack = percentiles(connackMs);
  const cpuPer1k = round((bcpu / Math.max(1, connected)) * 1000, 2);
  log(
    `  connections on ${broker.name}: ${connected}/${target} in ${seconds.toFixed(1)} s ` +
      `(CONNACK p50 ${connack.p50} ms, p99 ${connack.p99} ms; broker ${cpuPer1k} CPU-s per 1,000), ` +
      `${still} still connected after ${holdSeconds} s, ${round((rss1 - rss0) / 1024 / Math.max(1, connected))} KiB and ${round((fds1 - fds0) / Math.max(1, connected), 1)} fds each`,
  );

  let mostHeld = still;
  let firstFailure = failures[0];
  for (let n = target; n < cap && failures.length === 0; ) {
    const step = Math.min(1000, cap - n);
    await connectMany(broker, n, n + step, clients, failures);
    n += step;
    await sleep(2000);
    const held = clients.filter((c) => c.connected).length;
    mostHeld = Math.max(mostHeld, held);
    if (held < clients.length) {
      firstFailure ??= `${clients.length - held} connections dropped at ${n}`;
      break;
    }
  }
  firstFailure ??= failures[0];
  if (cap > target) log(`  connections on ${broker.name}: held ${mostHeld} at most (cap ${cap})`);
  const rssAll = rssBytes(pids);
  await inParallel(clients, 100, (c) => endClient(c));
  return {
    scenario: "connections",
    broker: broker.name,
    target,
    connected,
    failed,
    connects_per_s: round(connected / seconds),
    connack_p50_ms: connack.p50,
    connack_p99_ms: connack.p99,
    broker_cpu_s_per_1k_connects: cpuPer1k,
    kib_per_connection: round((rss1 - rss0) / 1024 / Math.max(1, connected), 1),
    fds_per_connection: round((fds1 - fds0) / Math.max(1, connected), 2),
    still_connected_after_hold: still,
    hold_seconds: holdSeconds,
    most_held: mostHeld,
    cap,
    ...(firstFailure ? { first_failure: firstFailure } : {}),
    client_cpu_pct: round(((cpu.user + cpu.system) / 1e6 / seconds) * 100),
    broker_cpu_pct: round((bcpu / seconds) * 100),
    broker_rss_mb: round(rssAll / 2 ** 20),
  };
};
