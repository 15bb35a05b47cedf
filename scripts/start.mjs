#!/usr/bin/env node
// `npm start`: creates .dev.vars from .dev.vars.example when missing, copies the /docs bundle
// into public/ (scripts/vendor-assets.mjs), applies the local D1
// migrations, then serves the Worker with wrangler dev on http://127.0.0.1:${PORT:-8787}.
// Arguments go to `wrangler dev`; `--persist-to <dir>` is used for the migrations too.
// Ctrl-C (SIGINT) or SIGTERM stops wrangler and everything it started (workerd included).
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import "./ensure-dev-vars.mjs";
import "./vendor-console.mjs";
import "./vendor-assets.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const wrangler = fileURLToPath(new URL("../node_modules/.bin/wrangler", import.meta.url));
const args = process.argv.slice(2);
const at = args.indexOf("--persist-to");
const persist = at >= 0 && args[at + 1] ? ["--persist-to", args[at + 1]] : [];
// No fetch of workers.cloudflare.com/cf.json (a warning and a 3 s wait offline): the local
// Request.cf is a placeholder either way.
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false" };

// The migrations, told in one line (wrangler prints a table per migration); everything on failure.
const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local", ...persist], {
  cwd: root,
  env: { ...env, CI: "true", NO_COLOR: "1" },
  encoding: "utf8",
});
const output = `${migrate.stdout ?? ""}${migrate.stderr ?? ""}`;
if (migrate.status !== 0) {
  process.stderr.write(output);
  process.exit(migrate.status ?? 1);
}
const applied = /About to apply (\d+) migration/.exec(output)?.[1];
console.log(applied ? `local D1: applied ${applied} migration(s)` : "local D1: migrations up to date");

const port = process.env.PORT ?? "8787";
// Keeps local queue delivery from stalling (see scripts/loopback-keepalive.cjs).
const preload = fileURLToPath(new URL("./loopback-keepalive.cjs", import.meta.url));
const NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --require ${JSON.stringify(preload)}`.trim();
// Its own process group, so that one signal reaches wrangler and every process under it.
const dev = spawn(wrangler, ["dev", "--ip", "127.0.0.1", "--port", port, ...args], {
  cwd: root,
  // Not the terminal's foreground group, so no stdin (wrangler's hotkeys are off; Ctrl-C works).
  stdio: ["ignore", "inherit", "inherit"],
  detached: true,
  env: { ...env, NODE_OPTIONS },
});
const stopGroup = (sig) => {
  try {
    process.kill(-dev.pid, sig);
  } catch {
    // already gone
  }
};
let stopping = false;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    if (stopping) return stopGroup("SIGKILL"); // a second Ctrl-C: at once
    stopping = true;
    stopGroup(sig);
    // Whatever has not stopped in 5 s is killed.
    setTimeout(() => stopGroup("SIGKILL"), 5000).unref();
  });
}
dev.on("exit", (code, signal) => {
  stopGroup("SIGKILL"); // nothing of the group outlives wrangler
  process.exit(code ?? (signal ? 0 : 1));
});
