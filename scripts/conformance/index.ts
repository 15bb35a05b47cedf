/**
 * `npm run conformance`: runs the Eclipse Paho interoperability suite (MQTT 3.1.1 and 5.0)
 * against the platform, through a TCP → WebSocket shim of our own. The suite is not part of the
 * repository: fetch it yourself and point PAHO_DIR at its `interoperability` folder.
 *
 *   PAHO_DIR=/path/to/paho.mqtt.testing/interoperability npm run conformance
 *
 * Starts `wrangler dev` (fresh state, one bundle), creates an app (`mqtt_keepalive.max` 60 s, the
 * suite's expected Server Keep Alive) and a group, mints one MQTT token for one identity, and
 * listens on 127.0.0.1:1883 (the suite's default; client_test.py cannot be pointed elsewhere).
 * Each TCP connection gets its own WebSocket to /mqtt (subprotocol `mqtt`, the token), bytes
 * piped both ways in binary frames, topics rewritten into the identity's ACL (rewrite.ts).
 *
 * Options (environment): PAHO_TOPICS=user|group (which topics the suite's topics map into,
 * default user), PAHO_SUITES=3.1.1,5.0 (default both), PAHO_LOG=<file> (wrangler's output).
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import path from "node:path";
import WebSocket from "ws";
import {
  buildBundle,
  call,
  devVar,
  freshState,
  type PspApp,
  psp,
  removeState,
  startDev,
} from "../../bench/lib/platform";
import { log, stopAll } from "../../bench/lib/procs";
import type { ProtocolVersion } from "../../src/mqtt/codec/types";
import { PacketStream, type TopicMap } from "./rewrite";

const PORT = 1883;
const SUITES = [
  { version: "3.1.1", file: "client_test.py" },
  { version: "5.0", file: "client_test5.py" },
];

type Outcome = { test: string; result: "pass" | "fail" | "error" | "skipped" };

/** Pipes one suite connection to its own WebSocket, rewriting topics both ways. */
function bridge(sock: Socket, url: string, map: TopicMap): void {
  const conn: { version: ProtocolVersion } = { version: 4 };
  const up = new PacketStream(map, "in", conn);
  const down = new PacketStream(map, "out", conn);
  const ws = new WebSocket(url, "mqtt");
  const queued: Uint8Array[] = [];
  sock.on("data", (d: Buffer) => {
    for (const p of up.push(new Uint8Array(d))) {
      if (ws.readyState === WebSocket.OPEN) ws.send(p);
      else queued.push(p);
    }
  });
  ws.on("open", () => {
    for (const p of queued.splice(0)) ws.send(p);
  });
  ws.on("message", (data: Buffer) => {
    for (const p of down.push(new Uint8Array(data))) sock.write(p);
  });
  ws.on("close", () => sock.end());
  ws.on("error", () => sock.destroy());
  sock.on("error", () => undefined);
  sock.on("close", () => (ws.readyState === WebSocket.CONNECTING ? ws.terminate() : ws.close()));
}

/** Runs one suite file; answers each of its tests' outcomes (from unittest's summary). */
async function runSuite(dir: string, file: string): Promise<{ outcomes: Outcome[]; output: string }> {
  const source = readFileSync(path.join(dir, file), "utf8");
  const tests = [...source.matchAll(/^\s+def (test\w+)\(self/gm)].map((m) => m[1] as string).sort();
  const output = await new Promise<string>((resolve) => {
    const child = spawn("python3", [file], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 15 * 60_000);
    child.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
  const failed = new Map<string, "fail" | "error">();
  for (const m of output.matchAll(/^(FAIL|ERROR): (test\w+)/gm)) {
    failed.set(m[2] as string, m[1] === "FAIL" ? "fail" : "error");
  }
  const ran = Number(/^Ran (\d+) tests?/m.exec(output)?.[1] ?? 0);
  const skipped = new Set([...output.matchAll(/^(test\w+) .*\bskipped\b/gm)].map((m) => m[1]));
  const outcomes = tests.map((test): Outcome => {
    if (ran === 0) return { test, result: "error" };
    if (skipped.has(test)) return { test, result: "skipped" };
    return { test, result: failed.get(test) ?? "pass" };
  });
  return { outcomes, output };
}

async function main(): Promise<void> {
  const dir = process.env.PAHO_DIR;
  if (!dir) throw new Error("set PAHO_DIR to the Paho suite's interoperability folder");
  const topics = process.env.PAHO_TOPICS === "group" ? "group" : "user";
  const wanted = (process.env.PAHO_SUITES ?? "3.1.1,5.0").split(",");

  log("starting the platform (wrangler dev, fresh state)");
  const state = freshState("edge-push-paho-");
  let server: Server | undefined;
  let dev: Awaited<ReturnType<typeof startDev>> | undefined;
  try {
    dev = await startDev(buildBundle(state), state, {});
    const base = dev.base;
    const admin = { authorization: `Bearer ${devVar("ADMIN_TOKEN")}` };
    const created = await call(base, "POST", "/api/admin/apps", admin, { name: "paho" });
    if (created.status !== 201) throw new Error(`create app: ${created.status}`);
    const app = created.json as PspApp;
    // The suite expects a Server Keep Alive of 60 s for a client asking 120 s.
    const put = await call(base, "PUT", `/api/admin/apps/${app.appkey}`, admin, {
      mqtt_keepalive: { max: 60 },
    });
    if (put.status !== 200) throw new Error(`app settings: ${put.status}`);
    const user = "paho";
    const group = "paho-group";
    await psp(base, app, "PUT", `/psp/groups/${group}`, { name: group });
    await psp(base, app, "POST", `/psp/groups/${group}/members`, { add: [user] });
    const { token } = (await psp(base, app, "POST", "/psp/mqtt/token", { sub: user })) as { token: string };
    const map: TopicMap = {
      prefix: topics === "group" ? `${app.name}/group/${group}` : `${app.name}/user/${user}`,
      forbidden: `${app.name}/forbidden`,
    };
    const url = `${base.replace(/^http/, "ws")}/mqtt?token=${token}`;
    const shim = createServer((sock) => bridge(sock, url, map));
    server = shim;
    await new Promise<void>((resolve, reject) => {
      shim.once("error", reject);
      shim.listen(PORT, "127.0.0.1", () => resolve());
    });
    log(`shim on 127.0.0.1:${PORT} → ${base}/mqtt, suite topics under ${map.prefix}/`);

    const report: string[] = [];
    for (const suite of SUITES.filter((s) => wanted.includes(s.version))) {
      log(`MQTT ${suite.version}: python3 ${suite.file}`);
      const { outcomes, output } = await runSuite(dir, suite.file);
      const passed = outcomes.filter((o) => o.result === "pass").length;
      report.push(`MQTT ${suite.version}: ${passed}/${outcomes.length} passed`);
      for (const o of outcomes)
        report.push(`  ${o.result === "pass" ? "pass" : o.result.padEnd(4)}  ${o.test}`);
      if (process.env.PAHO_OUTPUT) writeFileSync(`${process.env.PAHO_OUTPUT}.${suite.version}.txt`, output);
    }
    console.log(`\nPaho interoperability suite (topics: ${topics})\n${report.join("\n")}`);
  } finally {
    server?.close();
    if (process.env.PAHO_LOG && dev) writeFileSync(process.env.PAHO_LOG, dev.output());
    await stopAll();
    removeState(state);
  }
}

main().catch(async (err) => {
  console.error(err instanceof Error ? err.message : err);
  await stopAll();
  process.exit(1);
});
