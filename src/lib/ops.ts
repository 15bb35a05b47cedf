/**
 * Counted operations, for docs/cost.md: what the platform asks of Cloudflare's billed services
 * (Worker requests, Durable Object requests and active time, SQLite rows, D1 rows, Queue
 * messages), counted where they happen. On only when the Worker var COUNT_OPS is "1" (`npm run
 * bench:cost` starts `wrangler dev --var COUNT_OPS:1`); off, every entry point pays one boolean
 * check and nothing is wrapped.
 *
 * The counters live in the isolate's memory. Under `wrangler dev` the Worker and all its Durable
 * Objects run in one isolate, so `GET /api/admin/ops` sees everything; deployed, each isolate
 * counts only its own share, and the numbers are not meant to be read there.
 *
 * What is wrapped, once per binding or class, when counting is on:
 * - the Worker's fetch and queue entry points (src/index.ts);
 * - each Durable Object namespace's `get`: every call on the stub it returns (RPC method or
 *   fetch) is one billed Durable Object request;
 * - each Durable Object class's prototype methods: the handlers the runtime calls (WebSocket
 *   messages, closes, alarms) are counted, and the object is "active" while any of its methods,
 *   any call it makes (stubs, D1, queues) or any timer it set is pending — Cloudflare bills
 *   wall-clock duration while an object runs or cannot hibernate (a pending setTimeout keeps it
 *   awake); an object handling nothing, with hibernatable WebSockets only, is not billed;
 * - `ctx.storage.sql`: statements, and the rows read and written its cursors report;
 *   `setAlarm` (billed as a row written) and `getAlarm`;
 * - the D1 binding's transport (the session's `_send`, which sees every statement's `meta`);
 * - queue producers' `send` and `sendBatch`.
 */

import { DurableObject } from "cloudflare:workers";
import { AsyncLocalStorage } from "node:async_hooks";

/** The Durable Object bindings of wrangler.toml and their classes (a binding not listed is not counted). */
export const DO_BINDINGS = {
  USER_HUB: "UserHub",
  GROUP_HUB: "GroupHub",
  REPLAY_GUARD: "ReplayGuard",
  TASK_WATCHDOG: "TaskWatchdog",
  TASK_HUB: "TaskHub",
  APP_REGISTRY: "AppRegistry",
  METRICS: "Metrics",
} as const satisfies Partial<Record<keyof Env, string>>;
const QUEUE_BINDINGS = ["PUSH_QUEUE", "PUSH_DLQ", "WEBHOOK_QUEUE"] as const satisfies (keyof Env)[];
const D1_BINDINGS = ["DB"] as const satisfies (keyof Env)[];

/** The admin call that reads the counters; it is not counted itself. */
export const OPS_PATH = "/api/admin/ops";

let on: boolean | undefined;
/** Whether this isolate counts (COUNT_OPS = "1"); decided once, at the first entry point. */
export const opsEnabled = (env: unknown): boolean => {
  on ??= (env as { COUNT_OPS?: string }).COUNT_OPS === "1";
  return on;
};

// ---------------------------------------------------------------------------------------------
// Counters

type SqlCount = {
  statements: number;
  rows_read: number;
  rows_written: number;
  set_alarm: number;
  get_alarm: number;
};
type D1Count = { queries: number; rows_read: number; rows_written: number };
type ClassCount = { websocket_messages: number; websocket_closes: number; alarms: number; active_ms: number };

const fresh = () => ({
  since: Date.now(),
  worker: { fetch: 0, queue_invocations: 0, queue_messages: 0, queue_redeliveries: 0 },
  /** Calls on stubs, by `<binding>.<method>`. */
  stubCalls: {} as Record<string, number>,
  classes: {} as Record<string, ClassCount>,
  /** Objects of each class that ran a method. */
  objects: {} as Record<string, Set<string>>,
  sql: {} as Record<string, SqlCount>,
  /** By caller: the Worker or a Durable Object class. */
  d1: {} as Record<string, D1Count>,
  d1Metered: true,
  sent: {} as Record<string, { messages: number; ops: number }>,
});
let counts = fresh();

/** `map[key]`, made first when missing. */
function entry<T>(map: Record<string, T>, key: string, make: () => T): T {
  const found = map[key];
  if (found !== undefined) return found;
  const made = make();
  map[key] = made;
  return made;
}
const classCount = (cls: string): ClassCount =>
  entry(counts.classes, cls, () => ({ websocket_messages: 0, websocket_closes: 0, alarms: 0, active_ms: 0 }));
const sqlCount = (cls: string): SqlCount =>
  entry(counts.sql, cls, () => ({
    statements: 0,
    rows_read: 0,
    rows_written: 0,
    set_alarm: 0,
    get_alarm: 0,
  }));

// ---------------------------------------------------------------------------------------------
// Where work runs, and when a Durable Object is active

/** The Worker, or one Durable Object: `depth` counts what keeps it active; `since` when that began. */
type Scope = { cls: string; key: string; depth: number; since: number };
const WORKER: Scope = { cls: "Worker", key: "", depth: 0, since: 0 };
const als = new AsyncLocalStorage<Scope>();
const active = new Set<Scope>();

const enter = (s: Scope) => {
  if (s.depth++ === 0) {
    s.since = Date.now();
    active.add(s);
  }
};
const leave = (s: Scope) => {
  if (--s.depth === 0) {
    classCount(s.cls).active_ms += Date.now() - s.since;
    active.delete(s);
  }
};

/**
 * Runs `work` with the Durable Object `scope` (if any) active until it returns or, for a
 * promise, settles. (The handler attached to a rejected promise also marks it handled, which
 * only matters while counting.)
 */
function during<T>(scope: Scope | undefined, work: () => T): T {
  if (!scope || scope === WORKER) return work();
  enter(scope);
  let result: T;
  try {
    result = work();
  } catch (err) {
    leave(scope);
    throw err;
  }
  const then = (result as { then?: unknown } | null)?.then;
  if (typeof then === "function") {
    Reflect.apply(then, result, [() => leave(scope), () => leave(scope)]);
  } else leave(scope);
  return result;
}

/** A pending timer set by a Durable Object keeps it from hibernating: active until it fires or is cleared. */
let timersPatched = false;
function patchTimers(): void {
  if (timersPatched) return;
  timersPatched = true;
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const ends = new Map<unknown, () => void>();
  globalThis.setTimeout = ((callback: unknown, ms?: number, ...rest: unknown[]) => {
    const scope = als.getStore();
    if (!scope || scope === WORKER || typeof callback !== "function") {
      return Reflect.apply(realSet, globalThis, [callback, ms, ...rest]);
    }
    enter(scope);
    let handle: unknown;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      ends.delete(handle);
      leave(scope);
    };
    handle = Reflect.apply(realSet, globalThis, [
      () => {
        try {
          Reflect.apply(callback, undefined, rest);
        } finally {
          end();
        }
      },
      ms,
    ]);
    ends.set(handle, end);
    return handle;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((handle: unknown) => {
    ends.get(handle)?.();
    Reflect.apply(realClear, globalThis, [handle]);
  }) as typeof clearTimeout;
}

// ---------------------------------------------------------------------------------------------
// Bindings

const patched = new WeakSet<object>();

/** A stub whose every call (RPC method or fetch) is counted as one Durable Object request. */
function countedStub<T extends object>(stub: T, binding: string): T {
  return new Proxy(stub, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      return (...args: unknown[]) => {
        const key = `${binding}.${prop}`;
        counts.stubCalls[key] = (counts.stubCalls[key] ?? 0) + 1;
        return during(als.getStore(), () => Reflect.apply(value, target, args));
      };
    },
  });
}

function patchNamespace(ns: object, binding: string): void {
  const methods = ns as Record<string, unknown>;
  for (const name of ["get", "getByName"]) {
    const real = methods[name];
    if (typeof real !== "function") continue;
    methods[name] = (...args: unknown[]) => countedStub(Reflect.apply(real, ns, args) as object, binding);
  }
}

/** Queue operations are billed per 64 KB written, read and deleted; a message carries ~100 bytes of metadata. */
const queueOps = (body: unknown): number => {
  try {
    return Math.max(1, Math.ceil(((JSON.stringify(body)?.length ?? 0) + 100) / 64_000));
  } catch {
    return 1;
  }
};

function patchQueue(queue: object, binding: string): void {
  const methods = queue as Record<string, unknown>;
  const send = methods.send;
  const sendBatch = methods.sendBatch;
  const record = (bodies: unknown[]) => {
    const c = entry(counts.sent, binding, () => ({ messages: 0, ops: 0 }));
    c.messages += bodies.length;
    for (const b of bodies) c.ops += queueOps(b);
  };
  if (typeof send === "function") {
    methods.send = (body: unknown, options?: unknown) => {
      record([body]);
      return during(als.getStore(), () => Reflect.apply(send, queue, [body, options]));
    };
  }
  if (typeof sendBatch === "function") {
    methods.sendBatch = (messages: { body: unknown }[], options?: unknown) => {
      record(messages.map((m) => m.body));
      return during(als.getStore(), () => Reflect.apply(sendBatch, queue, [messages, options]));
    };
  }
}

type D1Answer = { meta?: { rows_read?: number; rows_written?: number } };

/**
 * D1's rows come back in each statement's `meta`, which `raw()` (drizzle's selects) drops: the
 * binding's session transport is wrapped instead. If the runtime's D1 binding changes shape,
 * D1 is reported unmetered rather than guessed.
 */
function patchD1(db: object): void {
  const session = (db as { alwaysPrimarySession?: Record<string, unknown> }).alwaysPrimarySession;
  const send = session?._send;
  if (!session || typeof send !== "function") {
    counts.d1Metered = false;
    return;
  }
  session._send = function (this: unknown, ...args: unknown[]) {
    const scope = als.getStore();
    const c = entry(counts.d1, scope?.cls ?? "Worker", () => ({ queries: 0, rows_read: 0, rows_written: 0 }));
    return during(scope, async () => {
      const answer = (await Reflect.apply(send, this, args)) as D1Answer | D1Answer[];
      for (const r of Array.isArray(answer) ? answer : [answer]) {
        c.queries += 1;
        c.rows_read += r?.meta?.rows_read ?? 0;
        c.rows_written += r?.meta?.rows_written ?? 0;
      }
      return answer;
    });
  };
}

/** Wraps the env's bindings in place (once each). */
function patchEnv(env: Env): void {
  patchTimers();
  const bindings = env as unknown as Record<string, object | undefined>;
  for (const name of Object.keys(DO_BINDINGS)) {
    const ns = bindings[name];
    if (ns && !patched.has(ns)) {
      patched.add(ns);
      patchNamespace(ns, name);
    }
  }
  for (const name of QUEUE_BINDINGS) {
    const q = bindings[name];
    if (q && !patched.has(q)) {
      patched.add(q);
      patchQueue(q, name);
    }
  }
  for (const name of D1_BINDINGS) {
    const db = bindings[name];
    if (db && !patched.has(db)) {
      patched.add(db);
      patchD1(db);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// SQLite storage

/** A cursor whose rows read and written are added as it is consumed (they grow as it is read). */
function countedCursor<T extends object>(cursor: T, c: SqlCount): T {
  const raw = cursor as unknown as SqlStorageCursor<Record<string, SqlStorageValue>>;
  let read = 0;
  let written = 0;
  const sync = () => {
    c.rows_read += raw.rowsRead - read;
    c.rows_written += raw.rowsWritten - written;
    read = raw.rowsRead;
    written = raw.rowsWritten;
  };
  sync();
  const proxy: T = new Proxy(cursor, {
    get(target, prop) {
      if (prop === Symbol.iterator) return () => proxy;
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const out = Reflect.apply(value, target, args);
        sync();
        return out;
      };
    },
  });
  return proxy;
}

function patchStorage(storage: DurableObjectStorage, cls: string): void {
  if (patched.has(storage)) return;
  patched.add(storage);
  const sql = storage.sql;
  const exec = sql.exec;
  const counted = new Proxy(sql, {
    get(target, prop) {
      if (prop === "exec") {
        return (query: string, ...bindings: unknown[]) => {
          // Local bookkeeping of miniflare (each object's name, written at every construction):
          // not ours, and not run on Cloudflare.
          if (query.includes("__miniflare_")) return Reflect.apply(exec, target, [query, ...bindings]);
          const c = sqlCount(cls);
          c.statements += 1;
          return countedCursor(Reflect.apply(exec, target, [query, ...bindings]) as object, c);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  Object.defineProperty(storage, "sql", { value: counted, configurable: true });
  const methods = storage as unknown as Record<string, unknown>;
  for (const [name, field] of [
    ["setAlarm", "set_alarm"],
    ["getAlarm", "get_alarm"],
  ] as const) {
    const real = methods[name];
    if (typeof real !== "function") continue;
    methods[name] = (...args: unknown[]) => {
      sqlCount(cls)[field] += 1;
      return Reflect.apply(real, storage, args);
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Entry points

const scopes = new WeakMap<DurableObjectState, Scope>();
const wrappedClasses = new WeakSet<object>();
/** Handlers the runtime calls on an object (not through a stub), each a billed request but closes. */
const HANDLERS: Record<string, keyof ClassCount> = {
  webSocketMessage: "websocket_messages",
  webSocketClose: "websocket_closes",
  webSocketError: "websocket_closes",
  alarm: "alarms",
};

/**
 * Wraps the methods of the object's classes, from its own up to DurableObject (`wrangler dev`
 * may put a subclass of its own in between); a name is wrapped where it is first found.
 */
function wrapClass(obj: object, cls: string): void {
  const first = Object.getPrototypeOf(obj) as object;
  if (wrappedClasses.has(first)) return;
  wrappedClasses.add(first);
  const seen = new Set<string>(["constructor"]);
  for (
    let proto: object | null = first;
    proto && proto !== DurableObject.prototype && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto) as object | null
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      const method = d?.value;
      if (seen.has(name) || typeof method !== "function") continue;
      seen.add(name);
      const handler = HANDLERS[name];
      Object.defineProperty(proto, name, {
        ...d,
        value: function (this: { ctx: DurableObjectState }, ...args: unknown[]) {
          const scope = scopes.get(this.ctx);
          if (!scope) return Reflect.apply(method, this, args);
          if (handler) classCount(cls)[handler] += 1;
          entry(counts.objects, cls, () => new Set<string>()).add(scope.key);
          return als.run(scope, () => during(scope, () => Reflect.apply(method, this, args)));
        },
      });
    }
  }
}

/** First thing in each Durable Object's constructor: counts the object's work (when on). */
export function countDurableObject(obj: object, ctx: DurableObjectState, env: Env, cls: string): void {
  if (!opsEnabled(env)) return;
  patchEnv(env);
  patchStorage(ctx.storage, cls);
  scopes.set(ctx, { cls, key: ctx.id.toString(), depth: 0, since: 0 });
  wrapClass(obj, cls);
}

/** The Worker's fetch entry point (the call that reads the counters is not counted). */
export function countFetch<T>(env: Env, request: Request, run: () => T): T {
  if (!opsEnabled(env)) return run();
  patchEnv(env);
  if (new URL(request.url).pathname !== OPS_PATH) counts.worker.fetch += 1;
  return als.run(WORKER, run);
}

/** The Worker's queue consumer: one invocation, its messages (each a queue read). */
export function countQueue<T>(env: Env, batch: MessageBatch<unknown>, run: () => T): T {
  if (!opsEnabled(env)) return run();
  patchEnv(env);
  counts.worker.queue_invocations += 1;
  counts.worker.queue_messages += batch.messages.length;
  counts.worker.queue_redeliveries += batch.messages.filter((m) => m.attempts > 1).length;
  return als.run(WORKER, run);
}

// ---------------------------------------------------------------------------------------------
// Reading

/** The counters since the last reset (`GET /api/admin/ops`, docs/admin-api.md "Operation counters"). */
export function opsSnapshot() {
  const now = Date.now();
  const requestsOf: Record<string, number> = {};
  for (const [key, n] of Object.entries(counts.stubCalls)) {
    const binding = key.slice(0, key.indexOf(".")) as keyof typeof DO_BINDINGS;
    const cls = DO_BINDINGS[binding] ?? binding;
    requestsOf[cls] = (requestsOf[cls] ?? 0) + n;
  }
  const names = new Set([
    ...Object.keys(counts.classes),
    ...Object.keys(requestsOf),
    ...Object.keys(counts.sql),
  ]);
  const classes: Record<string, ClassCount & { objects: number; stub_requests: number; active_now: number }> =
    {};
  for (const cls of [...names].sort()) {
    const c = { ...classCount(cls) };
    // Objects active right now: their time so far.
    let activeNow = 0;
    for (const s of active) {
      if (s.cls !== cls) continue;
      c.active_ms += now - s.since;
      activeNow += 1;
    }
    classes[cls] = {
      ...c,
      objects: counts.objects[cls]?.size ?? 0,
      stub_requests: requestsOf[cls] ?? 0,
      active_now: activeNow,
    };
  }
  return {
    since: new Date(counts.since).toISOString(),
    seconds: (now - counts.since) / 1000,
    worker: { ...counts.worker },
    durable_objects: {
      classes,
      stub_requests: Object.fromEntries(Object.entries(counts.stubCalls).sort()),
    },
    sqlite: structuredClone(counts.sql),
    d1: { metered: counts.d1Metered, by_caller: structuredClone(counts.d1) },
    queues: { sent: structuredClone(counts.sent) },
  };
}

export type OpsSnapshot = ReturnType<typeof opsSnapshot>;

/** Starts counting again from zero (objects active now count from now). */
export function resetOps(): void {
  const metered = counts.d1Metered;
  counts = fresh();
  counts.d1Metered = metered;
  const now = Date.now();
  for (const s of active) s.since = now;
}
