/**
 * Message scenarios run the same way against every broker: clients connect and subscribe, a
 * warm-up proves every subscription is live, then publishers send a bounded number of messages
 * (flat out, or at a steady rate) and every delivery is checked: latency from the timestamp in
 * the payload (one process, one clock), losses and duplicates per subscriber.
 */
import { performance } from "node:perf_hooks";
import type { IClientOptions, MqttClient } from "mqtt";
import { APP, type Broker, type Group } from "../lib/brokers";
import { connectClient, endClient } from "../lib/client";
import { inParallel } from "../lib/platform";
import { cpuSeconds, log, rssBytes, sleep } from "../lib/procs";
import { percentiles, round, Samples } from "../lib/stats";

/** A connection of the scenario: who it is, what it subscribes to, where it publishes. */
export type Role = { userId: string; filter?: string; topic?: string };

export type Shape = {
  name: string;
  groups: Group[];
  roles: Role[];
  /** Messages per publisher. */
  count: number;
  /** 0: flat out, one message per publisher per turn of the event loop; else ms between a publisher's messages. */
  intervalMs: number;
};

export type MessagingResult = {
  scenario: string;
  broker: string;
  qos: 0 | 1;
  publishers: number;
  subscribers: number;
  published: number;
  expected: number;
  delivered: number;
  lost: number;
  duplicates: number;
  seconds: number;
  /** Deliveries per second (each message counted once per subscriber reached). */
  msgs_per_s: number;
  publishes_per_s: number;
  latency_ms: ReturnType<typeof percentiles>;
  client_cpu_pct: number;
  broker_cpu_pct: number;
  /** Broker CPU-seconds (user + system of its processes) per million deliveries. */
  broker_cpu_s_per_m_deliveries: number;
  broker_rss_mb: number;
  error?: string;
};

const PAYLOAD_BYTES = 64;
/** The sequence number of warm-up messages. */
export const WARMUP = 0xffffffff;

export const groupTopic = (g: string) => `${APP}/group/${g}/m`;
export const groupFilter = (g: string) => `${APP}/group/${g}/#`;

/** Send time (performance.now()) at 0, publisher at 8, sequence number at 12, zeros after. */
export const payload = (publisher: number, seq: number, bytes = PAYLOAD_BYTES) => {
  const b = Buffer.alloc(bytes);
  b.writeDoubleLE(performance.now(), 0);
  b.writeUInt32LE(publisher, 8);
  b.writeUInt32LE(seq, 12);
  return b;
};

/** A scenario's connections, kept across its QoS 0 and QoS 1 runs. */
export type Rig = {
  shape: Shape;
  clients: MqttClient[];
  /** For each publish topic, how many connections receive it. */
  fanout: Map<string, number>;
  setupSeconds: number;
  onMessage: (handler: ((i: number, payload: Buffer) => void) | null) => void;
};

/** Connects the shape's clients (`options` added to each one's, e.g. `keepalive: 0`) and subscribes them. */
export const connectRig = async (
  broker: Broker,
  shape: Shape,
  options: IClientOptions = {},
): Promise<Rig> => {
  const t0 = performance.now();
  await broker.prepareGroups(shape.groups);
  await broker.prepareUsers(shape.roles.map((r) => r.userId));
  const clients: MqttClient[] = new Array(shape.roles.length);
  let handler: ((i: number, payload: Buffer) => void) | null = null;
  await inParallel(
    shape.roles.map((r, i) => ({ r, i })),
    64,
    async ({ r, i }) => {
      const client = await connectClient(await broker.urlFor(r.userId), {
        clientId: `${r.userId}-${shape.name}`,
        clean: true,
        ...options,
      });
      client.on("message", (_topic, p) => handler?.(i, p));
      if (r.filter) {
        const granted = await client.subscribeAsync(r.filter, { qos: 1 });
        if (granted.some((g) => g.qos > 2)) throw new Error(`${broker.name}: ${r.filter} refused`);
      }
      clients[i] = client;
    },
  );
  const fanout = new Map<string, number>();
  for (const r of shape.roles) if (r.topic) fanout.set(r.topic, 0);
  for (const r of shape.roles) {
    if (!r.filter) continue;
    const prefix = r.filter.slice(0, -1);
    for (const topic of fanout.keys())
      if (topic.startsWith(prefix)) fanout.set(topic, (fanout.get(topic) ?? 0) + 1);
  }
  return {
    shape,
    clients,
    fanout,
    setupSeconds: round((performance.now() - t0) / 1000, 1),
    onMessage: (h) => {
      handler = h;
    },
  };
};

export const closeRig = (rig: Rig) => inParallel(rig.clients.filter(Boolean), 64, (c) => endClient(c));

/**
 * A probe on every publish topic (from one of its publishers) until every subscriber got one:
 * all subscriptions are live and every object on the way exists before the clock starts.
 */
export const warmUp = async (rig: Rig, broker: string) => {
  const { shape, clients } = rig;
  const waiting = new Set(shape.roles.flatMap((r, i) => (r.filter ? [i] : [])));
  rig.onMessage((i, p) => {
    if (p.length >= 16 && p.readUInt32LE(12) === WARMUP) waiting.delete(i);
  });
  const probes = new Map<string, number>();
  shape.roles.forEach((r, i) => {
    if (r.topic && !probes.has(r.topic)) probes.set(r.topic, i);
  });
  for (let round = 1; round <= 10 && waiting.size > 0; round++) {
    for (const [topic, i] of probes) clients[i]?.publish(topic, payload(i, WARMUP), { qos: 1 });
    // Wait while probes keep arriving (a slow broker), at least 3 s, at most 60 s per round.
    const start = performance.now();
    let left = waiting.size;
    let progressAt = start;
    while (waiting.size > 0) {
      await sleep(100);
      const now = performance.now();
      if (waiting.size !== left) {
        left = waiting.size;
        progressAt = now;
      }
      if (now - start > 60_000 || (now - progressAt > 3000 && now - start > 3000)) break;
    }
  }
  if (waiting.size > 0) throw new Error(`${broker}: ${waiting.size} subscribers never got a warm-up message`);
  await sleep(1000); // late warm-up copies
  rig.onMessage(null);
};

export const runMessaging = async (broker: Broker, rig: Rig, qos: 0 | 1): Promise<MessagingResult> => {
  const { shape, clients, fanout } = rig;
  await warmUp(rig, broker.name);
  const publishers = shape.roles.flatMap((r, i) => (r.topic ? [{ i, topic: r.topic }] : []));
  const subscribers = shape.roles.filter((r) => r.filter).length;
  const expected = publishers.reduce((n, p) => n + (fanout.get(p.topic) ?? 0) * shape.count, 0);
  const seen = new Map<number, Set<number>>();
  const latency = new Samples();
  let delivered = 0;
  let duplicates = 0;
  let lastAt = 0;
  rig.onMessage((i, p) => {
    const seq = p.readUInt32LE(12);
    if (seq === WARMUP) return;
    const now = performance.now();
    const key = p.readUInt32LE(8) * 1_000_000 + seq;
    let set = seen.get(i);
    if (!set) {
      set = new Set();
      seen.set(i, set);
    }
    if (set.has(key)) {
      duplicates++;
      return;
    }
    set.add(key);
    delivered++;
    lastAt = now;
    latency.push(now - p.readDoubleLE(0));
  });

  const pids = broker.pids();
  const cpu0 = process.cpuUsage();
  const bcpu0 = cpuSeconds(pids);
  const t0 = performance.now();
  let published = 0;
  if (shape.intervalMs === 0) {
    for (let seq = 0; seq < shape.count; seq++) {
      for (const p of publishers) clients[p.i]?.publish(p.topic, payload(p.i, seq), { qos });
      published += publishers.length;
      await new Promise((r) => setImmediate(r));
    }
  } else {
    // Each publisher at its own steady pace, starting at a random point of the first interval.
    await Promise.all(
      publishers.map(async (p) => {
        await sleep(Math.random() * shape.intervalMs);
        const start = performance.now();
        for (let seq = 0; seq < shape.count; seq++) {
          clients[p.i]?.publish(p.topic, payload(p.i, seq), { qos });
          published++;
          const next = start + (seq + 1) * shape.intervalMs;
          await sleep(Math.max(0, next - performance.now()));
        }
      }),
    );
  }
  const sentAt = performance.now();
  // Drain: until everything arrived, or nothing arrived for 10 s, or 120 s after the last publish.
  let error: string | undefined;
  let progress = delivered;
  let progressAt = performance.now();
  while (delivered < expected) {
    await sleep(50);
    const now = performance.now();
    if (delivered !== progress) {
      progress = delivered;
      progressAt = now;
    } else if (now - progressAt > 10_000) {
      error = `stopped waiting: no delivery for 10 s (${delivered}/${expected})`;
      break;
    }
    if (now - sentAt > 120_000) {
      error = `stopped waiting: 120 s after the last publish (${delivered}/${expected})`;
      break;
    }
  }
  const end = delivered >= expected ? lastAt : performance.now();
  const cpu = process.cpuUsage(cpu0);
  const bcpu = cpuSeconds(pids) - bcpu0;
  await sleep(qos === 1 ? 1000 : 300); // duplicates arriving late still count
  rig.onMessage(null);
  const seconds = (end - t0) / 1000;
  const result: MessagingResult = {
    scenario: shape.name,
    broker: broker.name,
    qos,
    publishers: publishers.length,
    subscribers,
    published,
    expected,
    delivered,
    lost: expected - delivered,
    duplicates,
    seconds: round(seconds, 2),
    msgs_per_s: round(delivered / seconds),
    publishes_per_s: round(published / ((sentAt - t0) / 1000)),
    latency_ms: percentiles(latency.values()),
    client_cpu_pct: round(((cpu.user + cpu.system) / 1e6 / seconds) * 100),
    broker_cpu_pct: round((bcpu / seconds) * 100),
    broker_cpu_s_per_m_deliveries: delivered ? round((bcpu / delivered) * 1e6, 1) : 0,
    broker_rss_mb: round(rssBytes(pids) / 2 ** 20),
    ...(error ? { error } : {}),
  };
  log(
    `  ${shape.name} QoS ${qos} on ${broker.name}: ${result.msgs_per_s} msgs/s, p50 ${result.latency_ms.p50} ms, ` +
      `p99 ${result.latency_ms.p99} ms, lost ${result.lost}, dups ${duplicates}, ` +
      `CPU client ${result.client_cpu_pct}% broker ${result.broker_cpu_pct}% ` +
      `(${result.broker_cpu_s_per_m_deliveries} CPU-s per million deliveries)${error ? ` — ${error}` : ""}`,
  );
  return result;
};

// ---------------------------------------------------------------------------------------------
// The shapes of issue 6

export const fanOutShape = (subscribers: number, count: number): Shape => {
  const members = Array.from({ length: subscribers }, (_, i) => `fs${i}`);
  return {
    name: "fan-out",
    groups: [{ id: "fan", members: ["fp0", ...members] }],
    roles: [
      { userId: "fp0", topic: groupTopic("fan") },
      ...members.map((userId) => ({ userId, filter: groupFilter("fan") })),
    ],
    count,
    intervalMs: 0,
  };
};

/** Seed 002's family circles: every member subscribes to its group and publishes to it. */
export const circlesShape = (groups: number, size: number, count: number, intervalMs: number): Shape => {
  const all: Group[] = Array.from({ length: groups }, (_, g) => ({
    id: `circle${g}`,
    members: Array.from({ length: size }, (_, m) => `c${g}m${m}`),
  }));
  return {
    name: "family circles",
    groups: all,
    roles: all.flatMap((g) =>
      g.members.map((userId) => ({ userId, filter: groupFilter(g.id), topic: groupTopic(g.id) })),
    ),
    count,
    intervalMs,
  };
};

export const pointToPointShape = (pairs: number, count: number): Shape => {
  const groups: Group[] = Array.from({ length: pairs }, (_, p) => ({
    id: `pair${p}`,
    members: [`pa${p}`, `pb${p}`],
  }));
  return {
    name: "point-to-point",
    groups,
    roles: groups.flatMap((g) => [
      { userId: `pa${g.id.slice(4)}`, topic: groupTopic(g.id) },
      { userId: `pb${g.id.slice(4)}`, filter: groupFilter(g.id) },
    ]),
    count,
    intervalMs: 0,
  };
};
