import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { inject } from "vitest";
import WebSocket from "ws";
import { signed } from "../../bench/lib/platform";

export const BASE = inject("e2eBase");
export const WS = BASE.replace(/^http/, "ws");
const ADMIN = { authorization: `Bearer ${inject("e2eAdminToken")}`, "content-type": "application/json" };

export type App = { name: string; appkey: string; app_master_secret: string };

let seq = 0;
/** A fresh app (tenant) through the admin API. */
export const createApp = async (): Promise<App> => {
  seq += 1;
  const name = `e2e-${process.pid}-${Date.now().toString(36)}-${seq}`;
  const res = await fetch(`${BASE}/api/admin/apps`, {
    method: "POST",
    headers: ADMIN,
    body: JSON.stringify({ name }),
  });
  if (res.status !== 201) throw new Error(`create app: ${res.status} ${await res.text()}`);
  return (await res.json()) as App;
};

/** Changes an app's settings through the admin API (PUT /api/admin/apps/:appkey). */
export const setApp = async (app: App, settings: Record<string, unknown>) => {
  const res = await fetch(`${BASE}/api/admin/apps/${app.appkey}`, {
    method: "PUT",
    headers: ADMIN,
    body: JSON.stringify(settings),
  });
  if (res.status !== 200) throw new Error(`app settings: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
};

/** An admin call (CONTRACT §1): status and JSON answer. */
export const adminCall = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${BASE}/api/admin${path}`, {
    method,
    headers: ADMIN,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

/** A signed partner call (CONTRACT §2), signed by the benchmarks' helper: one sign per call. */
export const psp = async (app: App, method: string, path: string, body?: unknown) => {
  const text = body === undefined ? "" : JSON.stringify(body);
  const req = signed(BASE, app, method, path, text);
  const res = await fetch(`${BASE}${req.path}`, { method, headers: req.headers, body: text || undefined });
  return { status: res.status, body: (await res.json()) as { ret: string; data: Record<string, unknown> } };
};

export const mqttToken = async (
  app: App,
  sub: string,
  extra: { device_class?: string } = {},
): Promise<string> => {
  const { body } = await psp(app, "POST", "/psp/mqtt/token", { sub, ...extra });
  if (body.ret !== "SUCCESS") throw new Error(`token: ${JSON.stringify(body)}`);
  return String(body.data.token);
};

export const makeGroup = async (app: App, groupId: string, members: string[]) => {
  await psp(app, "PUT", `/psp/groups/${groupId}`, { name: groupId });
  if (members.length) await psp(app, "POST", `/psp/groups/${groupId}/members`, { add: members });
};

const clients: MqttClient[] = [];
const sockets: WebSocket[] = [];
/** Connects a real mqtt.js client over WebSocket with a token; rejects on a refused CONNECT. */
export const connect = async (token: string, opts: IClientOptions = {}): Promise<MqttClient> => {
  const client = await mqtt.connectAsync(`${WS}/mqtt?token=${token}`, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts,
  });
  clients.push(client);
  return client;
};

export type Received = { topic: string; payload: string; packet: mqtt.IPublishPacket };

/**
 * Connects and records every message from the first byte on (a resumed session's queued
 * messages may arrive together with the CONNACK), answering the CONNACK too.
 */
export const open = (token: string, opts: IClientOptions = {}) =>
  new Promise<{ client: MqttClient; connack: mqtt.IConnackPacket; messages: Received[] }>(
    (resolve, reject) => {
      const client = mqtt.connect(`${WS}/mqtt?token=${token}`, {
        reconnectPeriod: 0,
        connectTimeout: 5000,
        ...opts,
      });
      clients.push(client);
      const messages: Received[] = [];
      client.on("message", (topic, payload, packet) =>
        messages.push({ topic, payload: payload.toString(), packet }),
      );
      client.once("connect", (connack) => resolve({ client, connack, messages }));
      client.once("error", reject);
    },
  );

/** Ends every client and raw socket the test opened (call in afterEach). */
export const closeAll = async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
};

/** A token and a connected client for `userId` of `app`. */
export const connectAs = async (app: App, userId: string, opts: IClientOptions = {}) =>
  connect(await mqttToken(app, userId), opts);

/**
 * Subscribes and answers the SUBACK's return / reason codes, failures included (mqtt.js rejects
 * a SUBACK with a failure code; the codes are what a test asserts).
 */
export const subscribeCodes = (
  client: MqttClient,
  topics: string | string[] | Record<string, mqtt.IClientSubscribeOptions>,
  opts: mqtt.IClientSubscribeOptions = { qos: 1 },
) =>
  new Promise<number[]>((resolve, reject) => {
    client.subscribe(topics as string[], opts, (err, _granted, packet) => {
      const codes = (packet as { granted?: number[] } | undefined)?.granted;
      if (codes) resolve(codes);
      else reject(err ?? new Error("no SUBACK"));
    });
  });

/** The `data` of GET /psp/presence for a user. */
export const presence = async (app: App, userId: string) =>
  (await psp(app, "GET", `/psp/presence?user_id=${userId}`)).body.data as {
    user_id: string;
    online: boolean;
    focus: 0 | 1;
    last_seen: string | null;
  };

/** Drops a client's connection without DISCONNECT (an abnormal close, as a phone losing signal). */
export const kill = (client: MqttClient) => {
  client.stream.destroy();
};

/** Resolves once the client's connection is closed (rejects after `ms`). */
export const closedWithin = (client: MqttClient, ms: number) =>
  new Promise<void>((resolve, reject) => {
    if (!client.connected && client.disconnected) return resolve();
    const t = setTimeout(() => reject(new Error(`still connected after ${ms} ms`)), ms);
    client.once("close", () => {
      clearTimeout(t);
      resolve();
    });
  });

/** Polls `fn` until `ok` holds (or `ms` pass), answering the last value. */
export const eventually = async <T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> => {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > until) return v;
    await sleep(100);
  }
};

/** Resolves with the next message a client receives on a topic matching `pred`. */
export const nextMessage = (
  client: MqttClient,
  timeoutMs = 5000,
  pred: (topic: string) => boolean = () => true,
) =>
  new Promise<{ topic: string; payload: string; packet: mqtt.IPublishPacket }>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off("message", on);
      reject(new Error("no message in time"));
    }, timeoutMs);
    const on = (topic: string, payload: Buffer, packet: mqtt.IPublishPacket) => {
      if (!pred(topic)) return;
      clearTimeout(timer);
      client.off("message", on);
      resolve({ topic, payload: payload.toString(), packet });
    };
    client.on("message", on);
  });

/** Collects every message a client receives for `ms`. */
export const collect = (client: MqttClient, ms: number) =>
  new Promise<{ topic: string; payload: string }[]>((resolve) => {
    const got: { topic: string; payload: string }[] = [];
    const on = (topic: string, payload: Buffer) => got.push({ topic, payload: payload.toString() });
    client.on("message", on);
    setTimeout(() => {
      client.off("message", on);
      resolve(got);
    }, ms);
  });

/**
 * Collects messages until `n` have arrived, then `quietMs` more (so an extra or duplicate one is
 * seen too); gives up after `timeoutMs` with what it has.
 */
export const collectN = (client: MqttClient, n: number, quietMs = 300, timeoutMs = 5000) =>
  new Promise<{ topic: string; payload: string }[]>((resolve) => {
    const got: { topic: string; payload: string }[] = [];
    const done = () => {
      clearTimeout(timer);
      client.off("message", on);
      resolve(got);
    };
    const timer = setTimeout(done, timeoutMs);
    const on = (topic: string, payload: Buffer) => {
      got.push({ topic, payload: payload.toString() });
      if (got.length === n) setTimeout(done, quietMs);
    };
    client.on("message", on);
  });

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The HTTP status an upgrade to `/mqtt` gets (101 when it is accepted), and the subprotocol. */
export const upgradeStatus = (query: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; protocol?: string }>((resolve, reject) => {
    const ws = new WebSocket(`${WS}/mqtt${query}`, "mqtt", { headers });
    ws.on("open", () => {
      resolve({ status: 101, protocol: ws.protocol });
      ws.close();
    });
    ws.on("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.on("error", (err) => reject(err));
  });

/** A raw WebSocket speaking bytes, for malformed-input tests. */
export const rawSocket = (token: string) =>
  new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`${WS}/mqtt?token=${token}`, "mqtt");
    ws.binaryType = "nodebuffer";
    sockets.push(ws);
    ws.on("open", () => resolve(ws));
    ws.on("error", reject);
  });
