/**
 * Issue 14 §5: the server stopped (SIGTERM) and started again on the same state, as a deploy or
 * an eviction does. Persistent 3.1.1 and 5.0 sessions, their subscriptions, retained messages and
 * queued QoS 1 messages survive; QoS 1 group messages a publisher had acknowledged just before
 * the stop all arrive after it, in order. This file runs its own `wrangler dev` (the shared one
 * of the other e2e files keeps serving them).
 */
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  buildBundle,
  call,
  type Dev,
  devVar,
  freshState,
  type PspApp,
  psp,
  removeState,
  startDev,
} from "../../bench/lib/platform";
import { stopChild } from "../../bench/lib/procs";

let state = "";
let config = "";
let dev: Dev;
let port = 0;
let app: PspApp;
const clients: MqttClient[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  state = freshState("edge-push-restart-");
  config = buildBundle(state);
  dev = await startDev(config, state, {}, { loopbackFix: false, startMs: 90_000 });
  port = Number(new URL(dev.base).port);
  const admin = { authorization: `Bearer ${devVar("ADMIN_TOKEN")}` };
  const created = await call(dev.base, "POST", "/api/admin/apps", admin, { name: `restart-${Date.now()}` });
  app = created.json as PspApp;
  await psp(dev.base, app, "PUT", "/psp/groups/fam", { name: "fam" });
  await psp(dev.base, app, "POST", "/psp/groups/fam/members", { add: ["pub", "b", "c", "d", "e"] });
}, 180_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  if (dev) await stopChild(dev.child);
  if (state) removeState(state);
});

type Got = { topic: string; n: number; retain: boolean };

const tokenOf = async (sub: string) =>
  String((await psp(dev.base, app, "POST", "/psp/mqtt/token", { sub })).token);

/** A client recording every message from the first byte, its CONNACK answered. */
const open = (token: string, opts: IClientOptions) =>
  new Promise<{ client: MqttClient; got: Got[]; sessionPresent: boolean }>((resolve, reject) => {
    const client = mqtt.connect(`ws://127.0.0.1:${port}/mqtt?token=${token}`, {
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      resubscribe: false,
      ...opts,
    });
    clients.push(client);
    const got: Got[] = [];
    client.on("message", (topic, payload, packet) =>
      got.push({ topic, n: Number(payload.toString()), retain: packet.retain }),
    );
    client.once("connect", (connack) => resolve({ client, got, sessionPresent: connack.sessionPresent }));
    client.once("error", reject);
  });

const waitFor = async (ok: () => boolean, ms: number) => {
  const until = Date.now() + ms;
  while (!ok() && Date.now() < until) await sleep(100);
};

/** The numbers received on `topic`, and whether their first arrivals are in order. */
const numbers = (got: Got[], topic: string) => got.filter((g) => g.topic === topic).map((g) => g.n);
const firstArrivals = (ns: number[]) => [...new Set(ns)];

it("loses nothing a client was acknowledged, and resumes sessions, subscriptions and retained messages", async () => {
  const topic = `${app.name}/group/fam/chat`;
  const sessions: Record<string, IClientOptions> = {
    b: { clientId: `${app.name}-b`, clean: false, protocolVersion: 4 },
    c: { clientId: `${app.name}-c`, clean: false, protocolVersion: 4 },
    d: {
      clientId: `${app.name}-d`,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 3600 },
    },
  };
  const tokens: Record<string, string> = {};
  for (const u of ["pub", "b", "c", "d", "e"]) tokens[u] = await tokenOf(u);

  // Persistent sessions subscribe once; c and d then go offline, b stays.
  const live: Record<string, Awaited<ReturnType<typeof open>>> = {};
  for (const u of ["b", "c", "d"]) {
    live[u] = await open(tokens[u] as string, sessions[u] as IClientOptions);
    await live[u].client.subscribeAsync(`${app.name}/group/fam/#`, { qos: 1 });
  }
  const pub = await open(tokens.pub as string, { clientId: `${app.name}-pub`, protocolVersion: 4 });
  await pub.client.publishAsync(`${app.name}/group/fam/state`, "7", { qos: 1, retain: true });
  await live.c?.client.endAsync();
  await live.d?.client.endAsync();

  // 1..20 while c and d are offline: queued in their sessions.
  for (let n = 1; n <= 20; n++) await pub.client.publishAsync(topic, String(n), { qos: 1 });
  await sleep(1000);
  // 21..120 all at once, and the server stopped as soon as the last PUBACK is in.
  const burst = Array.from({ length: 100 }, (_, i) =>
    pub.client.publishAsync(topic, String(21 + i), { qos: 1 }),
  );
  await Promise.all(burst);
  await stopChild(dev.child);
  for (const c of clients) c.end(true);

  dev = await startDev(config, state, {}, { loopbackFix: false, startMs: 90_000, port });
  const after: Record<string, Awaited<ReturnType<typeof open>>> = {};
  for (const u of ["b", "c", "d"]) after[u] = await open(tokens[u] as string, sessions[u] as IClientOptions);
  const all = Array.from({ length: 120 }, (_, i) => i + 1);
  for (const u of ["b", "c", "d"]) {
    const s = after[u] as Awaited<ReturnType<typeof open>>;
    expect(s.sessionPresent, `${u}'s session`).toBe(true);
    // b had some before the stop; c and d have everything from their queues and the outbox.
    const had = u === "b" ? numbers(live.b?.got ?? [], topic) : [];
    await waitFor(() => new Set([...had, ...numbers(s.got, topic)]).size >= 120, 30_000);
    const seen = firstArrivals([...had, ...numbers(s.got, topic)]);
    expect(seen, `${u} received every acknowledged message, in order`).toEqual(all);
  }
  // The messages queued before the stop arrive once each.
  for (const u of ["c", "d"]) {
    const queued = numbers(after[u]?.got ?? [], topic).filter((n) => n <= 20);
    expect(queued, `${u}'s queued messages`).toEqual(all.slice(0, 20));
  }
  // A new subscriber gets the retained message.
  const e = await open(tokens.e as string, { clientId: `${app.name}-e`, protocolVersion: 4 });
  await e.client.subscribeAsync(`${app.name}/group/fam/state`, { qos: 1 });
  await waitFor(() => e.got.length > 0, 5000);
  expect(e.got).toEqual([{ topic: `${app.name}/group/fam/state`, n: 7, retain: true }]);
}, 240_000);
