/**
 * This platform under `wrangler dev` for the benchmarks: a fresh local state folder, migrations,
 * one bundle built up front (so that saving a source file mid-run does not reload the Worker and
 * drop every WebSocket), and the admin and signed partner calls the scenarios need.
 */
import { type ChildProcess, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startChild, waitForHttp } from "./procs";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const WRANGLER = path.join(ROOT, "node_modules", ".bin", "wrangler");
export const CHILD_ENV = {
  ...process.env,
  CI: "true",
  WRANGLER_SEND_METRICS: "false",
  NO_COLOR: "1",
  // No fetch of workers.cloudflare.com/cf.json (offline: a warning and a 3 s wait).
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
};

/**
 * miniflare (wrangler 4.86) serves its loopback with Node's default 5 s keep-alive while workerd
 * reuses those connections; a lost request can stop local queue delivery for good (workers-sdk
 * 14848). `npm start` and the benchmarks preload this fix (see the script).
 */
export const LOOPBACK_FIX = path.join(ROOT, "scripts", "loopback-keepalive.cjs");

export const devVar = (name: string) =>
  readFileSync(path.join(ROOT, ".dev.vars"), "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}=`))
    ?.slice(name.length + 1)
    .trim() ?? "";

/** Runs wrangler to completion; throws with its output when it fails. */
export const wranglerSync = (args: string[], step: string, timeoutMs = 300_000): string => {
  const r = spawnSync(WRANGLER, args, { cwd: ROOT, env: CHILD_ENV, encoding: "utf8", timeout: timeoutMs });
  if (r.status !== 0)
    throw new Error(`${step} failed (exit ${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
};

/** A fresh state folder with the migrations applied. */
export const freshState = (prefix: string) => {
  spawnSync(process.execPath, ["scripts/ensure-dev-vars.mjs"], { cwd: ROOT, stdio: "inherit" });
  const state = mkdtempSync(path.join(tmpdir(), prefix));
  wranglerSync(["d1", "migrations", "apply", "DB", "--local", "--persist-to", state], "applying migrations");
  return state;
};

/** Builds the Worker once into the state folder; answers the config that serves that bundle. */
export const buildBundle = (state: string) => {
  const bundle = path.join(state, "bundle");
  // The console's and the /docs reference's browser libraries into public/ (static assets).
  for (const script of ["scripts/vendor-console.mjs", "scripts/vendor-assets.mjs"]) {
    const vendor = spawnSync(process.execPath, [script], { cwd: ROOT, encoding: "utf8" });
    if (vendor.status !== 0) throw new Error(`${script} failed:\n${vendor.stderr}`);
  }
  wranglerSync(["deploy", "--dry-run", "--outdir", bundle], "building the Worker");
  // Paths in the copied config resolve from the bundle folder: migrations and the static
  // assets (public/) are named by their absolute paths.
  const config = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8")
    .replace(/^main\s*=.*$/m, 'main = "index.js"\nno_bundle = true')
    .replace(/^migrations_dir\s*=.*$/m, `migrations_dir = ${JSON.stringify(path.join(ROOT, "migrations"))}`)
    .replace(/^directory\s*=\s*"public"\s*$/m, `directory = ${JSON.stringify(path.join(ROOT, "public"))}`);
  if (!config.includes(JSON.stringify(path.join(ROOT, "public"))))
    throw new Error('wrangler.toml: [assets] directory = "public" not found');
  writeFileSync(path.join(bundle, "wrangler.toml"), config);
  copyFileSync(path.join(ROOT, ".dev.vars"), path.join(bundle, ".dev.vars"));
  return path.join(bundle, "wrangler.toml");
};

export type Dev = { base: string; child: ChildProcess; output: () => string };

/** `wrangler dev` on a free loopback port, with `vars` overriding wrangler.toml's. */
export const startDev = async (
  config: string,
  state: string,
  vars: Record<string, string>,
  opts: { loopbackFix?: boolean; startMs?: number; inspectorPort?: number; port?: number } = {},
): Promise<Dev> => {
  const port = opts.port ?? (await freePort());
  const env: NodeJS.ProcessEnv = { ...CHILD_ENV };
  if (opts.loopbackFix !== false) {
    env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --require ${JSON.stringify(LOOPBACK_FIX)}`.trim();
  }
  const args = ["dev", "--config", config, "--ip", "127.0.0.1", "--port", String(port)];
  args.push("--persist-to", state, "--inspector-port", String(opts.inspectorPort ?? 0));
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child = startChild(WRANGLER, args, { cwd: ROOT, env });
  let out = "";
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/`, opts.startMs ?? 120_000, child, () => out);
  return { base, child, output: () => out };
};

export const removeState = (state: string) => rmSync(state, { recursive: true, force: true });

// ---------------------------------------------------------------------------------------------
// Calls

export const md5 = (s: string) => createHash("md5").update(s, "utf8").digest("hex");

export type Answer = { status: number; json: unknown };

export const call = async (
  base: string,
  method: string,
  pathname: string,
  headers: Record<string, string>,
  body?: unknown,
  timeoutMs = 120_000,
): Promise<Answer> => {
  const res = await fetch(`${base}${pathname}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
};

export type PspApp = { name: string; appkey: string; app_master_secret: string };

let lastTimestamp = 0;
/**
 * CONTRACT §2's request signature: md5(METHOD + url + timestamp + body + secret), url with its
 * query string; the path (with `sign` last) and the headers to send. A sign is good once, so
 * every call gets its own millisecond timestamp.
 */
export const signed = (base: string, app: PspApp, method: string, pathname: string, body: string) => {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  const timestamp = String(lastTimestamp);
  const sign = md5(method + base + pathname + timestamp + body + app.app_master_secret);
  return {
    path: `${pathname}${pathname.includes("?") ? "&" : "?"}sign=${sign}`,
    headers: { "x-appkey": app.appkey, "x-timestamp": timestamp, "content-type": "application/json" },
  };
};

/** A signed partner call; throws unless it answers SUCCESS. */
export const psp = async (base: string, app: PspApp, method: string, pathname: string, body?: unknown) => {
  const text = body === undefined ? "" : JSON.stringify(body);
  const { path, headers } = signed(base, app, method, pathname, text);
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: text || undefined,
    signal: AbortSignal.timeout(120_000),
  });
  const answer = (await res.json()) as { ret: string; data: Record<string, unknown> };
  if (answer.ret !== "SUCCESS")
    throw new Error(`${method} ${pathname}: ${res.status} ${JSON.stringify(answer)}`);
  return answer.data;
};

/** Runs `work` over `items` with at most `limit` at a time. */
export const inParallel = async <T>(items: T[], limit: number, work: (item: T) => Promise<void>) => {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
};
