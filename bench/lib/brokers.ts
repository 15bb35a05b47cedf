/**
 * The three brokers of `npm run bench`, each on loopback and stopped by its PID: this platform
 * (`wrangler dev`), Mosquitto with a WebSocket listener (installed from Debian's packages when
 * absent), and Aedes over `ws` in its own Node process.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  buildBundle,
  call,
  type Dev,
  devVar,
  freshState,
  inParallel,
  type PspApp,
  psp,
  ROOT,
  startDev,
} from "./platform";
import { freePort, log, processTree, startChild, stopChild, waitForPort } from "./procs";

export type Group = { id: string; members: string[] };

export interface Broker {
  readonly name: "platform" | "mosquitto" | "aedes";
  /** Processes whose CPU and memory count as the broker's. */
  pids(): number[];
  /** Makes the groups and their members known (only the platform needs it). */
  prepareGroups(groups: Group[]): Promise<void>;
  /** The WebSocket URL a user connects with. */
  urlFor(userId: string): Promise<string>;
  /** Mints what `urlFor` needs for many users at once (only the platform needs it). */
  prepareUsers(userIds: string[]): Promise<void>;
  stop(): Promise<void>;
}

/** The app (tenant) name of the benchmarks: topics are `bench/group/<G>/…`, `bench/user/<id>/…`. */
export const APP = "bench";

const which = (cmd: string) =>
  spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).stdout.trim();

/** Mosquitto's binary, installed from Debian's packages when missing. */
export const ensureMosquitto = (): string => {
  const found =
    which("mosquitto") ||
    (spawnSync("test", ["-x", "/usr/sbin/mosquitto"]).status === 0 ? "/usr/sbin/mosquitto" : "");
  if (found) return found;
  log("Mosquitto is not installed: installing it from Debian's packages (apt-get install mosquitto)");
  const sudo = process.getuid?.() === 0 ? [] : ["sudo", "-n"];
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args: string[]) => {
    const [cmd = "", ...rest] = [...sudo, ...args];
    const r = spawnSync(cmd, rest, { env, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${args.join(" ")} failed:\n${r.stderr}${r.stdout}`);
  };
  run(["apt-get", "update", "-qq"]);
  run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "mosquitto"]);
  return "/usr/sbin/mosquitto";
};

const simple = (
  name: "mosquitto" | "aedes",
  pid: number,
  url: string,
  stop: () => Promise<void>,
): Broker => ({
  name,
  pids: () => processTree(pid),
  prepareGroups: async () => {},
  prepareUsers: async () => {},
  urlFor: async () => url,
  stop,
});

export const startMosquitto = async (state: string): Promise<Broker> => {
  const bin = ensureMosquitto();
  const version = spawnSync(bin, ["-h"], { encoding: "utf8" }).stdout.split("\n")[0];
  const port = await freePort();
  const tcpPort = await freePort();
  const conf = path.join(state, "mosquitto.conf");
  // Mosquitto 2.0.11 with Debian's libwebsockets 4.1 exits with "Unable to start any listening
  // sockets" when its only listener is a WebSocket one, though that one is listening: a plain
  // TCP listener beside it (unused) avoids that. Defaults otherwise (max_inflight_messages 20 per client); the queue limit is raised so that
  // a flat-out fan-out does not drop QoS 1 messages Mosquitto would otherwise queue and shed.
  writeFileSync(
    conf,
    [
      `listener ${tcpPort} 127.0.0.1`,
      `listener ${port} 127.0.0.1`,
      "protocol websockets",
      "allow_anonymous true",
      "persistence false",
      "max_queued_messages 100000",
      "log_dest stderr",
      "log_type error",
      "",
    ].join("\n"),
  );
  const child = startChild(bin, ["-c", conf], { cwd: state });
  let out = "";
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  await waitForPort(port, 15_000, child, () => out);
  log(`Mosquitto (${version?.trim()}) on ws://127.0.0.1:${port}, pid ${child.pid}`);
  return simple("mosquitto", child.pid ?? 0, `ws://127.0.0.1:${port}/mqtt`, () => stopChild(child));
};

export const startAedes = async (): Promise<Broker> => {
  const port = await freePort();
  const child = startChild(process.execPath, [path.join(ROOT, "bench", "aedes-broker.mjs"), String(port)], {
    cwd: ROOT,
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  await waitForPort(port, 15_000, child, () => out);
  const { version } = JSON.parse(
    readFileSync(path.join(ROOT, "node_modules", "aedes", "package.json"), "utf8"),
  ) as {
    version: string;
  };
  log(`Aedes ${version} on ws://127.0.0.1:${port}, pid ${child.pid}`);
  return simple("aedes", child.pid ?? 0, `ws://127.0.0.1:${port}/mqtt`, () => stopChild(child));
};

export type PlatformBroker = Broker & { dev: Dev; app: PspApp; admin: Record<string, string> };

/**
 * This platform: a fresh state folder, `wrangler dev` with `vars`, and an app named `bench` with
 * a high push rate limit. Users connect with tokens minted through `POST /psp/mqtt/token`.
 */
export const startPlatform = async (
  vars: Record<string, string>,
  opts: { inspectorPort?: number } = {},
): Promise<PlatformBroker> => {
  const state = freshState("edge-push-bench-");
  const config = buildBundle(state);
  const dev = await startDev(config, state, vars, opts);
  const admin = { authorization: `Bearer ${devVar("ADMIN_TOKEN")}` };
  const created = await call(dev.base, "POST", "/api/admin/apps", admin, { name: APP });
  if (created.status !== 201)
    throw new Error(`creating the app: ${created.status} ${JSON.stringify(created.json)}`);
  const app = created.json as PspApp;
  const limit = await call(dev.base, "PUT", `/api/admin/apps/${app.appkey}`, admin, {
    push_rate_limit: 100_000,
  });
  if (limit.status !== 200)
    throw new Error(`raising the rate limit: ${limit.status} ${JSON.stringify(limit.json)}`);
  log(`platform (wrangler dev) on ${dev.base}, pid ${dev.child.pid}, state ${state}`);
  const tokens = new Map<string, string>();
  const ws = dev.base.replace(/^http/, "ws");
  const mint = async (userId: string) => {
    if (tokens.has(userId)) return;
    const data = await psp(dev.base, app, "POST", "/psp/mqtt/token", { sub: userId });
    tokens.set(userId, String(data.token));
  };
  return {
    name: "platform",
    dev,
    app,
    admin,
    pids: () => processTree(dev.child.pid ?? 0),
    prepareUsers: (ids) => inParallel(ids, 8, mint),
    prepareGroups: (groups) =>
      inParallel(groups, 8, async (g) => {
        await psp(dev.base, app, "PUT", `/psp/groups/${g.id}`, { name: g.id });
        for (let i = 0; i < g.members.length; i += 500) {
          await psp(dev.base, app, "POST", `/psp/groups/${g.id}/members`, {
            add: g.members.slice(i, i + 500),
          });
        }
      }),
    urlFor: async (userId) => {
      await mint(userId);
      return `${ws}/mqtt?token=${tokens.get(userId)}`;
    },
    stop: async () => {
      await stopChild(dev.child);
      spawnSync("rm", ["-rf", state]);
    },
  };
};
