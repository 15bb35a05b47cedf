/**
 * `npm run bench:big-group [-- --members N] [--relay-above N] [--sample N]`: one groupcast to a
 * group of N members (default 20,000) whose hubs are real: each member connects once with a
 * persistent MQTT session (3.1.1, clean session off), subscribes to the group at QoS 1 and goes
 * offline, so the GroupHub has N subscribers. The push then fans out through GroupRelays (above
 * `--relay-above` members per slice, the Worker's GROUP_RELAY_ABOVE, default 5,000) into N
 * UserHubs, each queueing it for its offline session. Reports the setup time, the time until the
 * task is done, and for a sample of members (default 200) that reconnecting gets the push once.
 * Results go to bench/results/big-group-<date>.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { wholeArg } from "./lib/args";
import { startPlatform } from "./lib/brokers";
import { connectClient, endClient } from "./lib/client";
import { inParallel, psp, ROOT } from "./lib/platform";
import { cpuSeconds, log, rssBytes, sleep, stopAll, stopOnSignal } from "./lib/procs";
import { round } from "./lib/stats";

const MEMBERS = wholeArg("members", 20_000, 2);
const RELAY_ABOVE = wholeArg("relay-above", 5_000, 1);
const SAMPLE = Math.min(wholeArg("sample", 200, 1), MEMBERS);
const GROUP = "big";
const member = (i: number) => `m${i}`;

stopOnSignal();

const main = async () => {
  const platform = await startPlatform({ GROUP_RELAY_ABOVE: String(RELAY_ABOVE) });
  const { dev, app } = platform;
  const t0 = performance.now();
  const ids = Array.from({ length: MEMBERS }, (_, i) => member(i));
  await platform.prepareGroups([{ id: GROUP, members: ids }]);
  const membersAt = performance.now();
  log(`${MEMBERS} members added in ${round((membersAt - t0) / 1000, 1)} s`);
  await platform.prepareUsers(ids);
  const topic = `${app.name}/group/${GROUP}/#`;
  let subscribed = 0;
  await inParallel(ids, 100, async (id) => {
    const c = await connectClient(await platform.urlFor(id), { clientId: `${id}-phone`, clean: false });
    await c.subscribeAsync(topic, { qos: 1 });
    await endClient(c);
    subscribed += 1;
    if (subscribed % 2000 === 0) log(`  ${subscribed} sessions subscribed`);
  });
  const setupS = (performance.now() - t0) / 1000;
  log(`${MEMBERS} persistent sessions subscribed and offline; setup ${round(setupS, 1)} s`);

  const pids = platform.pids();
  const cpu0 = cpuSeconds(pids);
  const pushAt = performance.now();
  const accepted = await psp(dev.base, app, "POST", "/psp/push/msg", {
    type: "groupcast",
    group_id: GROUP,
    payload: { display_type: "message", body: { custom: { push_type: "chat", text: "to everyone" } } },
  });
  const taskId = String(accepted.task_id);
  let status: Record<string, unknown> = {};
  let peakRss = 0;
  for (;;) {
    peakRss = Math.max(peakRss, rssBytes(pids));
    try {
      status = await psp(dev.base, app, "GET", `/psp/push/status?task_id=${taskId}`);
    } catch (err) {
      log(`  status not answered after ${round((performance.now() - pushAt) / 1000, 1)} s: ${err}`);
    }
    if (["done", "failed", "expired", "cancelled"].includes(String(status.status))) break;
    if (performance.now() - pushAt > 600_000)
      throw new Error(`task not done after 600 s: ${JSON.stringify(status)}`);
    await sleep(250);
  }
  const doneS = (performance.now() - pushAt) / 1000;
  const logFile = path.join(tmpdir(), "edge-push-big-group.log");
  writeFileSync(logFile, dev.output());
  log(`wrangler dev's output: ${logFile}`);
  const cpu = cpuSeconds(pids) - cpu0;
  log(`groupcast to ${MEMBERS}: task ${status.status} after ${round(doneS, 2)} s (${round(cpu, 1)} CPU-s)`);

  // A sample reconnects: each persistent session gets the queued push, once.
  const step = Math.floor(MEMBERS / SAMPLE);
  const sample = Array.from({ length: SAMPLE }, (_, k) => member(k * step));
  const got = new Map<string, number>();
  await inParallel(sample, 50, async (id) => {
    const count = () => got.set(id, (got.get(id) ?? 0) + 1);
    const c = await connectClient(
      await platform.urlFor(id),
      { clientId: `${id}-phone`, clean: false },
      30_000,
      (client) => client.on("message", count),
    );
    // Up to 30 s for the queued push, then 1 s more for a duplicate.
    for (let waited = 0; waited < 30_000 && !got.has(id); waited += 100) await sleep(100);
    await sleep(1_000);
    await endClient(c);
  });
  const once = sample.filter((id) => got.get(id) === 1).length;
  const twice = sample.filter((id) => (got.get(id) ?? 0) > 1).length;
  log(
    `sample of ${SAMPLE}: ${once} got it once, ${twice} more than once, ${SAMPLE - once - twice} not at all`,
  );

  const result = {
    date: new Date().toISOString(),
    members: MEMBERS,
    relay_above: RELAY_ABOVE,
    relays: Math.ceil(MEMBERS / RELAY_ABOVE),
    setup_s: round(setupS, 1),
    task: status,
    task_done_s: round(doneS, 2),
    broker_cpu_s: round(cpu, 1),
    broker_peak_rss_mb: round(peakRss / 2 ** 20),
    sample: { size: SAMPLE, once, more_than_once: twice, missing: SAMPLE - once - twice },
  };
  const dir = path.join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `big-group-${result.date.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  log(`written to ${path.relative(ROOT, file)}`);
  await platform.stop();
};

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
