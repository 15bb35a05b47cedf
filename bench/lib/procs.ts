/**
 * Child processes of the benchmarks: each one started in its own process group, remembered, and
 * stopped by its PID (SIGTERM, then SIGKILL); CPU time and resident memory of a process and its
 * descendants read from /proc.
 */
import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { performance } from "node:perf_hooks";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const startedAt = performance.now();
export const log = (line: string) => {
  const s = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(6);
  console.log(`[${s}s] ${line}`);
};

export const describeError = (err: unknown): string =>
  err instanceof Error
    ? `${err.message}${err.cause === undefined ? "" : ` (${describeError(err.cause)})`}`
    : String(err);

/** Every child started, so that each one's process group can be ended by its id. */
export const children = new Set<ChildProcess>();

export const killGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
};

export const stopChild = async (child: ChildProcess) => {
  killGroup(child, "SIGTERM");
  const until = Date.now() + 5000;
  while (child.exitCode === null && child.signalCode === null && Date.now() < until) await sleep(100);
  killGroup(child, "SIGKILL");
  children.delete(child);
};

/** Starts a command in its own process group (so that it and its children stop together). */
export const startChild = (command: string, args: string[], options: SpawnOptions): ChildProcess => {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options, detached: true });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
};

export const stopAll = () => Promise.all([...children].map(stopChild));

/** On SIGINT / SIGTERM: kills every child's process group, runs `cleanup`, and exits with 130. */
export const stopOnSignal = (cleanup: () => Promise<unknown> = stopAll) => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping what the benchmark started`);
      for (const c of children) killGroup(c, "SIGTERM");
      void cleanup().finally(() => process.exit(130));
    });
  }
};

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });

/** Waits until something accepts HTTP on `url` (any status), or throws after `ms`. */
export const waitForHttp = async (url: string, ms: number, child?: ChildProcess, output?: () => string) => {
  const until = performance.now() + ms;
  for (;;) {
    if (child && child.exitCode !== null) {
      throw new Error(`${url}: the process exited (${child.exitCode}):\n${output?.().slice(-3000) ?? ""}`);
    }
    try {
      await fetch(url, { signal: AbortSignal.timeout(2000) });
      return;
    } catch {
      // not up yet
    }
    if (performance.now() > until) throw new Error(`nothing answered on ${url} within ${ms} ms`);
    await sleep(200);
  }
};

/** Waits until something accepts TCP connections on the loopback port, or throws after `ms`. */
export const waitForPort = async (port: number, ms: number, child?: ChildProcess, output?: () => string) => {
  const until = performance.now() + ms;
  for (;;) {
    if (child && child.exitCode !== null) {
      throw new Error(
        `port ${port}: the process exited (${child.exitCode}):\n${output?.().slice(-3000) ?? ""}`,
      );
    }
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (performance.now() > until) throw new Error(`nothing listened on port ${port} within ${ms} ms`);
    await sleep(100);
  }
};

// ---------------------------------------------------------------------------------------------
// /proc readings

const TICKS_PER_S = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The process and every descendant (by walking /proc's parent ids). */
export const processTree = (root: number): number[] => {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // ended meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parentOf) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
};

/** CPU seconds (user + system) used so far by the processes. */
export const cpuSeconds = (pids: number[]): number => {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // ended
    }
  }
  return ticks / TICKS_PER_S;
};

/** Resident memory in bytes of the processes. */
export const rssBytes = (pids: number[]): number => {
  let kib = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      kib += Number(m?.[1] ?? 0);
    } catch {
      // ended
    }
  }
  return kib * 1024;
};

/** Open file descriptors of the processes (sockets, SQLite files, ...). */
export const openFds = (pids: number[]): number => {
  let n = 0;
  for (const pid of pids) {
    try {
      n += readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // ended, or not ours to read
    }
  }
  return n;
};
