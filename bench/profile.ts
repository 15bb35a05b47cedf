/**
 * CPU profile of the platform's Worker isolate (Worker and Durable Objects) during the fan-out
 * or a connect storm:
 *
 *   npm run bench:profile [-- --qos 0|1] [--subscribers N] [--messages N]
 *   npm run bench:profile -- --pairs N [--messages N]   (point-to-point: N groups of two)
 *   npm run bench:profile -- --connects N     (N new identities connecting, 100 at a time)
 *   npm run bench:profile -- --push S         (S seconds of signed POST /psp/push/msg, delivery deferred)
 *
 * Starts `wrangler dev` with its inspector on a free port. Fan-out: connects the fan-out rig,
 * runs the fan-out once unprofiled (every object awake), then again under the V8 sampling
 * profiler (Chrome DevTools Protocol, 200 µs interval). Connects: 100 connections first (JIT
 * warm), then N more under the profiler. Prints the functions with the most self time and
 * writes the whole profile to `$TMPDIR/edge-push-<fanout-q<qos>|connects>.cpuprofile` (open
 * it in Chrome DevTools' Performance panel). Also prints the CPU-seconds of wrangler's Node
 * process and of workerd separately.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { wholeArg } from "./lib/args";
import { startPlatform } from "./lib/brokers";
import { connectClient, endClient } from "./lib/client";
import { inParallel } from "./lib/platform";
import { cpuSeconds, freePort, stopAll } from "./lib/procs";
import { closeRig, connectRig, fanOutShape, pointToPointShape, runMessaging } from "./scenarios/messaging";
import { runPushLoad } from "./scenarios/push-api";

const comm = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return String(pid);
  }
};
const qos = wholeArg("qos", 0, 0) === 1 ? 1 : 0;
const connects = wholeArg("connects", 0, 0);
const pairs = wholeArg("pairs", 0, 0);
const pushSeconds = wholeArg("push", 0, 0);

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number } };
type Profile = { nodes: Node[]; samples: number[]; startTime: number; endTime: number };

/** A minimal CDP client over the inspector's WebSocket. */
const devtools = async (url: string) => {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let id = 0;
  const waiting = new Map<number, (result: unknown) => void>();
  ws.on("message", (data) => {
    const m = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (m.id !== undefined) waiting.get(m.id)?.(m.result);
  });
  return {
    send: <T>(method: string, params: object = {}) =>
      new Promise<T>((resolve) => {
        id++;
        waiting.set(id, resolve as (r: unknown) => void);
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
};

const selfTimes = (profile: Profile) => {
  const hits = new Map<number, number>();
  for (const s of profile.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
  const msPerSample = (profile.endTime - profile.startTime) / profile.samples.length / 1000;
  const byFunction = new Map<string, number>();
  for (const n of profile.nodes) {
    const f = n.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : ""}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + (hits.get(n.id) ?? 0) * msPerSample);
  }
  return [...byFunction].sort((a, b) => b[1] - a[1]);
};

try {
  const port = await freePort();
  const platform = await startPlatform({}, { inspectorPort: port });
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const target = targets[0]?.webSocketDebuggerUrl;
  if (!target) throw new Error("wrangler dev's inspector lists no target");
  const clients: Awaited<ReturnType<typeof connectClient>>[] = [];
  const usersIn = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => `storm${from + i}`);
  // Tokens are minted before the profile: that is a device's setup, not its connect.
  if (connects) await platform.prepareUsers(usersIn(0, 100 + connects));
  const connectAll = async (from: number, to: number) => {
    const users = usersIn(from, to);
    await inParallel(users, 100, async (u) => {
      clients.push(await connectClient(await platform.urlFor(u), { clientId: `${u}-c`, clean: true }));
    });
  };
  const rig =
    connects || pushSeconds
      ? null
      : await connectRig(
          platform,
          pairs
            ? pointToPointShape(pairs, wholeArg("messages", 100))
            : fanOutShape(wholeArg("subscribers", 1000), wholeArg("messages", 100)),
        );
  if (rig)
    await runMessaging(platform, rig, qos); // every object awake, JIT warm
  else if (pushSeconds) await runPushLoad(platform, 32, 5, true);
  else await connectAll(0, 100);
  const cdp = await devtools(target);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  const pids = platform.pids();
  const before = pids.map((pid) => cpuSeconds([pid]));
  await cdp.send("Profiler.start");
  const t0 = performance.now();
  if (rig) await runMessaging(platform, rig, qos);
  else if (pushSeconds) await runPushLoad(platform, 32, pushSeconds, true);
  else await connectAll(100, 100 + connects);
  const seconds = (performance.now() - t0) / 1000;
  const { profile } = await cdp.send<{ profile: Profile }>("Profiler.stop");
  const spent = pids.map((pid, i) => cpuSeconds([pid]) - (before[i] ?? 0));
  cdp.close();
  console.log(
    `\n${seconds.toFixed(1)} s; CPU-seconds per process: ${pids.map((p, i) => `${comm(p)} ${spent[i]?.toFixed(2)}`).join(", ")}`,
  );
  const file = path.join(
    tmpdir(),
    `edge-push-${rig ? `${pairs ? "p2p" : "fanout"}-q${qos}` : pushSeconds ? "push" : "connects"}.cpuprofile`,
  );
  writeFileSync(file, JSON.stringify(profile));
  const rows = selfTimes(profile);
  const total = rows.reduce((n, [, ms]) => n + ms, 0);
  console.log(`\nself time in the Worker isolate, ${Math.round(total)} ms sampled (bundle line numbers):`);
  for (const [name, ms] of rows.slice(0, 25))
    console.log(`${String(Math.round(ms)).padStart(7)} ms  ${name}`);
  console.log(`\nprofile: ${file}`);
  if (rig) await closeRig(rig);
  await inParallel(clients, 100, endClient);
} finally {
  await stopAll();
}
