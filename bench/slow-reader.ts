/**
 * What a subscriber that stops reading costs the platform (issue 14, slow readers):
 *
 *   npx tsx bench/slow-reader.ts [--messages 2400] [--kib 64] [--publishers 4] [--qos 1]
 *
 * Starts `wrangler dev`, connects one identity three ways: a raw 3.1.1 subscriber (QoS 1, or
 * `--qos 0`) that subscribes and then stops reading its TCP socket (never PUBACKs), a healthy
 * mqtt.js subscriber, and `--publishers` mqtt.js publishers that publish `--messages` QoS 1
 * messages of `--kib` KiB to the identity's own topic. Prints the resident memory of the
 * `wrangler dev` process tree (workerd holds the hub) before, at its peak and after, and how
 * many messages the healthy subscriber got.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import mqtt from "mqtt";
import mqttPacket from "mqtt-packet";
import WebSocket from "ws";
import { wholeArg } from "./lib/args";
import { startPlatform } from "./lib/brokers";
import { log, rssBytes, sleep, stopAll } from "./lib/procs";

const messages = wholeArg("messages", 2400);
const kib = wholeArg("kib", 64);
const publishers = wholeArg("publishers", 4);
const qos = wholeArg("qos", 1, 0) === 0 ? 0 : 1;
/** `--paused 0`: the same run without the paused subscriber (the baseline). */
const withPaused = wholeArg("paused", 1, 0) === 1;
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
const nameOf = (pid: number) => /Name:\s+(\S+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
/** Resident memory of the tree, in total and per process. */
const memory = (pids: number[]) => ({
  total: rssBytes(pids),
  each: new Map(pids.map((pid) => [pid, rssBytes([pid])])),
});

const platform = await startPlatform({});
try {
  const topic = `${platform.app.name}/user/u1`;
  const url = await platform.urlFor("u1");

  // The paused reader: CONNECT, SUBSCRIBE, SUBACK, then its socket is no longer read.
  const paused = new WebSocket(url, "mqtt");
  await new Promise((resolve, reject) => {
    paused.once("open", resolve);
    paused.once("error", reject);
  });
  let reached = 0;
  const subacked = new Promise<void>((resolve) => {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on("packet", (p) => {
      if (p.cmd === "suback") resolve();
      if (p.cmd === "publish") reached += 1;
    });
    paused.on("message", (d: Buffer) => parser.parse(d));
  });
  const gen = (p: mqttPacket.Packet) => mqttPacket.generate(p, { protocolVersion: 4 });
  paused.send(gen({ cmd: "connect", protocolVersion: 4, clientId: "paused", clean: true, keepalive: 0 }));
  paused.send(gen({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${topic}/#`, qos }] }));
  await subacked;
  if (withPaused) (paused as unknown as { _socket: { pause(): void } })._socket.pause();
  else paused.terminate();

  const healthy = await mqtt.connectAsync(url, { clientId: "healthy", reconnectPeriod: 0 });
  let got = 0;
  healthy.on("message", () => {
    got += 1;
  });
  await healthy.subscribeAsync(`${topic}/#`, { qos: 1 });
  const pubs = await Promise.all(
    Array.from({ length: publishers }, (_, i) =>
      mqtt.connectAsync(url, { clientId: `pub-${i}`, reconnectPeriod: 0 }),
    ),
  );

  await sleep(2000);
  const before = memory(platform.pids());
  let peak = before.total;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssBytes(platform.pids()));
  }, 200);
  // Random bytes: the WebSocket may use permessage-deflate, which would shrink repeated ones.
  const payload = randomBytes(kib * 1024);
  const started = Date.now();
  await Promise.all(
    pubs.map(async (c, i) => {
      for (let n = i; n < messages; n += publishers) await c.publishAsync(`${topic}/m`, payload, { qos: 1 });
    }),
  );
  for (let i = 0; i < 100 && got < messages; i++) await sleep(100);
  await sleep(3000);
  clearInterval(sampler);
  const after = memory(platform.pids());
  log(
    `${messages} × ${kib} KiB (${mib(messages * kib * 1024)}) published in ${Date.now() - started} ms; ` +
      `healthy subscriber got ${got}; paused subscriber (QoS ${qos}) open: ${paused.readyState === WebSocket.OPEN}`,
  );
  log(`wrangler dev RSS: before ${mib(before.total)}, peak ${mib(peak)}, after ${mib(after.total)}`);
  for (const [pid, rss] of after.each) {
    const was = before.each.get(pid) ?? 0;
    if (rss > 50 * 1024 * 1024) log(`  ${nameOf(pid)} ${pid}: ${mib(was)} → ${mib(rss)}`);
  }
  if (withPaused) {
    // What the paused reader had waiting for it, once it reads again (it still acknowledges nothing).
    (paused as unknown as { _socket: { resume(): void } })._socket.resume();
    await sleep(5000);
    log(`the paused subscriber, reading again, got ${reached} PUBLISHes in 5 s`);
  }
  paused.terminate();
  await Promise.all([healthy, ...pubs].map((c) => c.endAsync(true)));
} finally {
  await platform.stop();
  await stopAll();
}
