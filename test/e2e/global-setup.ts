import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

const devVar = (name: string) => {
  const line = readFileSync(".dev.vars", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}=`));
  return line?.slice(name.length + 1).trim() ?? "";
};

/**
 * Starts the platform as a user would (`wrangler dev`, local D1 / R2 / Queues / Durable Objects)
 * on a free loopback port with its own state folder, for real MQTT clients over real WebSockets.
 */
export default async function setup(project: TestProject) {
  spawnSync("node", ["scripts/ensure-dev-vars.mjs"], { stdio: "inherit" });
  const state = mkdtempSync(path.join(tmpdir(), "edge-push-e2e-"));
  const env = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" };
  const wrangler = path.resolve("node_modules/.bin/wrangler");
  const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state], {
    env,
    encoding: "utf8",
  });
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}${migrate.stdout}`);

  // One bundle, built now, served with a copy of the config: `wrangler dev` on the sources would
  // reload (dropping every WebSocket) whenever a source file changes while the tests run.
  const bundle = path.join(state, "bundle");
  const build = spawnSync(wrangler, ["deploy", "--dry-run", "--outdir", bundle], { env, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`build failed: ${build.stderr}${build.stdout}`);
  const config = readFileSync("wrangler.toml", "utf8")
    .replace(/^main\s*=.*$/m, 'main = "index.js"\nno_bundle = true')
    .replace(/^migrations_dir\s*=.*$/m, `migrations_dir = ${JSON.stringify(path.resolve("migrations"))}`);
  writeFileSync(path.join(bundle, "wrangler.toml"), config);
  copyFileSync(".dev.vars", path.join(bundle, ".dev.vars"));

  const port = await freePort();
  const child: ChildProcess = spawn(
    wrangler,
    [
      "dev",
      "--config",
      path.join(bundle, "wrangler.toml"),
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      state,
      "--inspector-port",
      "0",
    ],
    { env, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let log = "";
  child.stdout?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  const base = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited:\n${log}`);
    try {
      const res = await fetch(`${base}/`);
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() - started > 90_000) throw new Error(`wrangler dev did not start in 90 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  project.provide("e2eBase", base);
  project.provide("e2eAdminToken", devVar("ADMIN_TOKEN"));

  return async () => {
    if (child.pid) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    // E2E_LOG=<file> keeps wrangler's output (the Worker's console) for debugging.
    if (process.env.E2E_LOG) writeFileSync(process.env.E2E_LOG, log);
    rmSync(state, { recursive: true, force: true });
  };
}
