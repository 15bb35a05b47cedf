#!/usr/bin/env node
// `npm start`: creates .dev.vars from .dev.vars.example when missing, applies the local D1
// migrations, then serves the Worker with wrangler dev on http://127.0.0.1:${PORT:-8787}.
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import "./ensure-dev-vars.mjs";

const wrangler = (args, opts = {}) => ["npx", ["wrangler", ...args], { stdio: "inherit", ...opts }];

const migrate = spawnSync(
  ...wrangler(["d1", "migrations", "apply", "DB", "--local"], { env: { ...process.env, CI: "true" } }),
);
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const port = process.env.PORT ?? "8787";
// Keeps local queue delivery from stalling (see scripts/loopback-keepalive.cjs).
const preload = fileURLToPath(new URL("./loopback-keepalive.cjs", import.meta.url));
const NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --require ${JSON.stringify(preload)}`.trim();
const dev = spawn(
  ...wrangler(["dev", "--ip", "127.0.0.1", "--port", port, ...process.argv.slice(2)], {
    env: { ...process.env, NODE_OPTIONS },
  }),
);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => dev.kill(sig));
dev.on("exit", (code) => process.exit(code ?? 0));
