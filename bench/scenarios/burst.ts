/**
 * Overload burst (issue 11): the fan-out group's subscribers (QoS 1), and one publisher that
 * sends 200-byte QoS 1 messages with up to 100 unacknowledged for a fixed time, then stops. The
 * run waits until every subscriber has every message the broker acknowledged (PUBACK), or a
 * drain deadline. The sequence number in each payload makes losses and duplicates exact per
 * subscriber; its send time gives the delivery latency.
 */
import { performance } from "node:perf_hooks";
import type { Broker } from "../lib/brokers";
import { cpuSeconds, log, rssBytes, sleep } from "../lib/procs";
import { percentiles, round, Samples } from "../lib/stats";
import { closeRig, connectRig, fanOutShape, payload, WARMUP, warmUp } from "./messaging";

export type BurstResult = {
  scenario: "burst";
  broker: string;
  subscribers: number;
  in_flight: number;
  payload_bytes: number;
  burst_seconds: number;
  /** Messages the publisher sent during the burst. */
  sent: number;
  /** Of those, the ones the broker acknowledged (PUBACK) before the burst ended. */
  accepted: number;
  accepted_per_s: number;
  /** PUBACKs of the burst's last messages (at most `in_flight`) that came after it ended. */
  accepted_late: number;
  /** Sent and never acknowledged by the end of the drain. */
  unacknowledged: number;
  /** (accepted + accepted_late) × subscribers. */
  expected: number;
  /** Unique deliveries of accepted messages. */
  delivered: number;
  /** expected − delivered, when the drain ended (everything arrived, or the deadline). */
  lost: number;
  duplicates: number;
  /** Deliveries still owed 5 s after the burst ended. */
  outstanding_after_5s: number;
  /** Subscribers that got every accepted message. */
  complete_subscribers: number;
  /** Connections (the publisher's included) lost by the end of the drain, and why (mqtt.js errors). */
  disconnected: number;
  client_errors: string[];
  /** From the end of the burst to the last delivery; null when the drain deadline passed first. */
  drain_ms: number | null;
  drain_deadline_s: number;
  latency_ms: ReturnType<typeof percentiles>;
  /** Broker CPU-seconds (its process tree, user + system) from the burst's start to the drain's end, per million deliveries. */
  broker_cpu_s_per_1m_deliveries: number;
  broker_rss_before_mb: number;
  broker_rss_peak_mb: number;
  client_cpu_pct: number;
  error?: string;
};

const IN_FLIGHT = 100;
const PAYLOAD_BYTES = 200;

const popcount = (x: number) => {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
};

/** One bit per sequence number, growing as needed. */
class Bits {
  private words = new Uint32Array(256);
  /** Sets bit `n`; answers whether it was set already. */
  set(n: number): boolean {
    const w = n >>> 5;
    if (w >= this.words.length) {
      const next = new Uint32Array(Math.max(w + 1, this.words.length * 2));
      next.set(this.words);
      this.words = next;
    }
    const word = this.words[w] ?? 0;
    const mask = 1 << (n & 31);
    this.words[w] = word | mask;
    return (word & mask) !== 0;
  }
  /** Bits set both here and in `other`. */
  countAnd(other: Bits): number {
    let n = 0;
    const len = Math.min(this.words.length, other.words.length);
    for (let w = 0; w < len; w++) n += popcount((this.words[w] ?? 0) & (other.words[w] ?? 0));
    return n;
  }
}

export const runBurst = async (
  broker: Broker,
  subscribers: number,
  seconds: number,
  drainSeconds: number,
): Promise<BurstResult> => {
  const rig = await connectRig(broker, { ...fanOutShape(subscribers, 0), name: "burst" });
  try {
    log(`burst: ${rig.clients.length} connections ready in ${rig.setupSeconds} s`);
    await warmUp(rig, broker.name);
    const publisher = rig.clients[0];
    const topic = rig.shape.roles[0]?.topic;
    if (!publisher || !topic) throw new Error("the fan-out shape has no publisher");

    const clientErrors = new Set<string>();
    for (const c of rig.clients) c.on("error", (e) => clientErrors.add(e.message));
    const seen = rig.clients.map(() => new Bits());
    const acked = new Bits();
    const latency = new Samples();
    let unique = 0;
    let duplicates = 0;
    let lastAt = 0;
    rig.onMessage((i, p) => {
      const seq = p.readUInt32LE(12);
      if (seq === WARMUP) return;
      if (seen[i]?.set(seq)) {
        duplicates++;
        return;
      }
      unique++;
      lastAt = performance.now();
      latency.push(lastAt - p.readDoubleLE(0));
    });
    const deliveredOfAccepted = () => seen.reduce((n, b) => n + b.countAnd(acked), 0);

    const pids = broker.pids();
    const rss0 = rssBytes(pids);
    let rssPeak = rss0;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, rssBytes(pids));
    }, 250);
    const cpu0 = process.cpuUsage();
    const bcpu0 = cpuSeconds(pids);
    const t0 = performance.now();

    // The burst: a new message whenever fewer than IN_FLIGHT await their PUBACK.
    let sending = true;
    let sent = 0;
    let inFlight = 0;
    let accepted = 0;
    const pump = () => {
      while (sending && inFlight < IN_FLIGHT) {
        const seq = sent++;
        inFlight++;
        publisher.publish(topic, payload(0, seq, PAYLOAD_BYTES), { qos: 1 }, (err) => {
          inFlight--;
          if (err) {
            sending = false; // the connection is gone: stop rather than spin
            return;
          }
          acked.set(seq);
          accepted++;
          pump();
        });
      }
    };
    pump();
    await sleep(seconds * 1000);
    sending = false;
    const burstEnd = performance.now();
    const acceptedInBurst = accepted;

    // The drain: until every accepted message reached every subscriber, or the deadline.
    let done = false;
    let outstanding5: number | undefined;
    let reportAt = burstEnd + 10_000;
    for (;;) {
      await sleep(50);
      const now = performance.now();
      const expected = accepted * subscribers;
      if (now >= reportAt) {
        reportAt += 10_000;
        log(
          `  drain +${Math.round((now - burstEnd) / 1000)} s: ${unique}/${expected} delivered, ${inFlight} PUBACKs awaited`,
        );
      }
      done = inFlight === 0 && unique >= expected && deliveredOfAccepted() === expected;
      if (outstanding5 === undefined && (done || now - burstEnd >= 5000))
        outstanding5 = done ? 0 : expected - deliveredOfAccepted();
      if (done || now - burstEnd >= drainSeconds * 1000) break;
    }
    const end = performance.now();
    const cpu = process.cpuUsage(cpu0);
    const bcpu = cpuSeconds(pids) - bcpu0;
    clearInterval(sampler);
    await sleep(1000); // duplicates arriving late still count
    rig.onMessage(null);

    const expected = accepted * subscribers;
    const delivered = deliveredOfAccepted();
    const complete = seen.filter((b, i) => i > 0 && b.countAnd(acked) === accepted).length;
    const burstSeconds = (burstEnd - t0) / 1000;
    const error = done
      ? undefined
      : `drain deadline: ${expected - delivered} deliveries outstanding ${drainSeconds} s after the burst` +
        (inFlight ? `, ${inFlight} PUBACKs still awaited` : "");
    const result: BurstResult = {
      scenario: "burst",
      broker: broker.name,
      subscribers,
      in_flight: IN_FLIGHT,
      payload_bytes: PAYLOAD_BYTES,
      burst_seconds: round(burstSeconds, 2),
      sent,
      accepted: acceptedInBurst,
      accepted_per_s: round(acceptedInBurst / burstSeconds),
      accepted_late: accepted - acceptedInBurst,
      unacknowledged: sent - accepted,
      expected,
      delivered,
      lost: expected - delivered,
      duplicates,
      outstanding_after_5s: outstanding5 ?? expected - delivered,
      complete_subscribers: complete,
      disconnected: rig.clients.filter((c) => !c.connected).length,
      client_errors: [...clientErrors],
      drain_ms: done ? round(Math.max(0, lastAt - burstEnd)) : null,
      drain_deadline_s: drainSeconds,
      latency_ms: percentiles(latency.values()),
      broker_cpu_s_per_1m_deliveries: round((bcpu / Math.max(1, delivered)) * 1e6, 1),
      broker_rss_before_mb: round(rss0 / 2 ** 20),
      broker_rss_peak_mb: round(rssPeak / 2 ** 20),
      client_cpu_pct: round(((cpu.user + cpu.system) / 1e6 / ((end - t0) / 1000)) * 100),
      ...(error ? { error } : {}),
    };
    log(
      `  burst on ${broker.name}: ${acceptedInBurst} accepted (${result.accepted_per_s}/s) + ${result.accepted_late} after the burst, ` +
        `${delivered}/${expected} delivered (${complete} subscribers complete, ${result.disconnected} disconnected), ` +
        `lost ${result.lost}, dups ${duplicates}, outstanding at +5 s ${result.outstanding_after_5s}, ` +
        `drain ${result.drain_ms ?? "—"} ms, p50 ${result.latency_ms.p50} ms, p99 ${result.latency_ms.p99} ms, ` +
        `${result.broker_cpu_s_per_1m_deliveries} broker CPU-s per 1M deliveries${error ? ` — ${error}` : ""}`,
    );
    return result;
  } finally {
    await closeRig(rig);
  }
};
