/**
 * `npm start` as a user runs it (scripts/start.mjs): quiet start-up (one line for the
 * migrations, no `Request.cf` warning), serving on PORT, and Ctrl-C (SIGINT) stopping every
 * process it started, workerd included.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { ROOT } from "../../bench/lib/platform";
import { freePort, sleep } from "../../bench/lib/procs";

const state = mkdtempSync(path.join(tmpdir(), "edge-push-start-"));
let child: ChildProcess | undefined;
afterAll(() => {
  if (child?.pid && child.exitCode === null) child.kill("SIGKILL");
  rmSync(state, { recursive: true, force: true });
});

/** Every process whose command line names the port (wrangler, its node, both workerd). */
const processesOn = (port: number) =>
  execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(`--port ${port}`) || l.includes(`127.0.0.1:${port}`))
    .map((l) => Number(l.trim().split(/\s+/)[0]));

it("starts quietly, serves, and stops every child process on SIGINT", async () => {
  const port = await freePort();
  let out = "";
  child = spawn(process.execPath, ["scripts/start.mjs", "--persist-to", state], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  let healthy = false;
  for (let i = 0; i < 240 && !healthy; i++) {
    await sleep(500);
    healthy = await fetch(`http://127.0.0.1:${port}/healthz`)
      .then((r) => r.status === 200)
      .catch(() => false);
  }
  expect(healthy, out).toBe(true);
  expect(out).toMatch(/local D1: applied \d+ migration\(s\)/);
  expect(out).not.toContain("Migrations to be applied");
  expect(out).not.toContain("Request.cf");
  const before = processesOn(port);
  expect(before.length).toBeGreaterThanOrEqual(2); // wrangler and workerd at least

  const exited = new Promise<void>((resolve) => child?.once("exit", () => resolve()));
  child.kill("SIGINT");
  await exited;
  let left = processesOn(port);
  for (let i = 0; i < 20 && left.length; i++) {
    await sleep(250);
    left = processesOn(port);
  }
  expect(left).toEqual([]);
}, 150_000);
