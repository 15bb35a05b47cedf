import { writeFileSync } from "node:fs";
import type { TestProject } from "vitest/node";
import { buildBundle, devVar, freshState, removeState, startDev } from "../../bench/lib/platform";
import { stopChild } from "../../bench/lib/procs";

/**
 * Starts the platform as a user would (`wrangler dev`, local D1 / R2 / Queues / Durable Objects)
 * on a free loopback port with its own state folder, for real MQTT clients over real WebSockets.
 * The same helpers (bench/lib/platform.ts) serve the benchmarks and `npm run conformance`.
 */
export default async function setup(project: TestProject) {
  const state = freshState("edge-push-e2e-");
  // One bundle, built now, served with a copy of the config: `wrangler dev` on the sources would
  // reload (dropping every WebSocket) whenever a source file changes while the tests run.
  const dev = await startDev(buildBundle(state), state, {}, { loopbackFix: false, startMs: 90_000 });
  project.provide("e2eBase", dev.base);
  project.provide("e2eAdminToken", devVar("ADMIN_TOKEN"));

  return async () => {
    await stopChild(dev.child);
    // E2E_LOG=<file> keeps wrangler's output (the Worker's console) for debugging.
    if (process.env.E2E_LOG) writeFileSync(process.env.E2E_LOG, dev.output());
    removeState(state);
  };
}
