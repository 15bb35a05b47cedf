import { spawnSync } from "node:child_process";
import { createWriteStream, writeFileSync } from "node:fs";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { buildBundle, devVar, freshState, ROOT, removeState, startDev } from "../../bench/lib/platform";
import { stopChild } from "../../bench/lib/procs";

/**
 * Starts the platform as a user would (`wrangler dev`, local D1 / R2 / Queues / Durable Objects)
 * on a free loopback port with its own state folder, for real MQTT clients over real WebSockets.
 * The same helpers (bench/lib/platform.ts) serve the benchmarks and `npm run conformance`.
 */
export default async function setup(project: TestProject) {
  // Debian's Chromium for the console's browser tests (console.test.ts fails with this message
  // when it could not be installed; the other tests do not need it).
  const chromium = spawnSync("sh", [path.join(ROOT, "scripts", "ensure-chromium.sh")], { encoding: "utf8" });
  project.provide(
    "e2eChromiumError",
    chromium.status === 0
      ? ""
      : `scripts/ensure-chromium.sh failed (exit ${chromium.status}):\n${chromium.stderr}`,
  );

  const state = freshState("edge-push-e2e-");
  // One bundle, built now, served with a copy of the config: `wrangler dev` on the sources would
  // reload (dropping every WebSocket) whenever a source file changes while the tests run.
  const dev = await startDev(buildBundle(state), state, {}, { loopbackFix: false, startMs: 90_000 });
  project.provide("e2eBase", dev.base);
  project.provide("e2eAdminToken", devVar("ADMIN_TOKEN"));
  // wrangler's output (the Worker's console) as it comes, for tests that read the SMS codes
  // `SMS_LOG_CODES=true` logs (.dev.vars).
  const log = path.join(state, "wrangler.log");
  const sink = createWriteStream(log);
  dev.child.stdout?.on("data", (d: Buffer) => sink.write(d));
  dev.child.stderr?.on("data", (d: Buffer) => sink.write(d));
  project.provide("e2eLog", log);

  return async () => {
    await stopChild(dev.child);
    sink.end();
    // E2E_LOG=<file> keeps wrangler's output (the Worker's console) for debugging.
    if (process.env.E2E_LOG) writeFileSync(process.env.E2E_LOG, dev.output());
    removeState(state);
  };
}
