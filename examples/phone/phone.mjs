#!/usr/bin/env node
// A phone app's MQTT client (CONTRACT §3, docs/mqtt.md) with mqtt.js, MQTT 5:
// a persistent session (clean=false, Session Expiry), its user topic and its groups, focus 1 on
// start and 0 on background with a Last Will of focus 0, reconnects that resume the session
// (messages queued while away arrive then), server keepalive honoured (mqtt.js adopts the
// CONNACK's Server Keep Alive).
//
//   BASE=http://127.0.0.1:8787 APPKEY=… SECRET=… USER_ID=10086 GROUP_IDS=family-42 node phone.mjs
//
// Environment:
//   BASE           the platform (default http://127.0.0.1:8787)
//   USER_ID        the user's id (the token's subject)
//   GROUP_IDS      comma-separated group ids the user belongs to (optional)
//   MQTT_TOKEN     the user's MQTT token, with APP (the app's name): what a real phone gets from
//                  its partner backend, which mints it with POST /psp/mqtt/token
//   APPKEY, SECRET instead of MQTT_TOKEN: this script plays the partner backend, mints a token
//                  (device_class "phone") and reads the app's name (GET /psp/app)
//   CLIENT_ID      default `<USER_ID>-phone`; the same client id resumes the same session
//   SESSION_EXPIRY seconds the session outlives its connection (default 604800, 7 days)
//   KEEPALIVE      seconds asked for (default 60); the server may answer another (Server Keep Alive)
//
// Standard input, one command a line: `background` (focus 0), `foreground` (focus 1), `quit`
// (focus 0, DISCONNECT: no Will, the session stays). SIGINT / SIGTERM quit the same way.
// Prints one JSON line per event: token, connected, subscribed, focus, message, offline, close,
// error.
import { createInterface } from "node:readline";
import mqtt from "mqtt";
import { psp } from "../partner/send.mjs";

const env = process.env;
const base = env.BASE ?? "http://127.0.0.1:8787";
const userId = env.USER_ID;
const groups = (env.GROUP_IDS ?? "").split(",").filter(Boolean);
const print = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));
if (!userId) throw new Error("set USER_ID");

/** The token and the app's name: given, or minted as the partner backend would. */
async function credentials() {
  if (env.MQTT_TOKEN) {
    if (!env.APP) throw new Error("set APP (the app's name) with MQTT_TOKEN");
    return { token: env.MQTT_TOKEN, app: env.APP };
  }
  const minted = await psp(
    "POST",
    "/psp/mqtt/token",
    JSON.stringify({ sub: userId, device_class: "phone" }),
    {
      ...env,
      BASE: base,
    },
  );
  if (minted.ret !== "SUCCESS") throw new Error(`token: ${JSON.stringify(minted)}`);
  const app = env.APP ?? (await psp("GET", "/psp/app", "", { ...env, BASE: base })).data?.name;
  print("token", { sub: minted.data.sub, expires_at: minted.data.expires_at, app });
  return { token: minted.data.token, app };
}

const { token, app } = await credentials();
const status = `${app}/app/status`;
const focus = (value) => JSON.stringify({ user_id: userId, focus: value });
const keepalive = Number(env.KEEPALIVE ?? 60);

const client = mqtt.connect(`${base.replace(/^http/, "ws")}/mqtt?token=${encodeURIComponent(token)}`, {
  protocolVersion: 5,
  clientId: env.CLIENT_ID ?? `${userId}-phone`,
  clean: false,
  properties: { sessionExpiryInterval: Number(env.SESSION_EXPIRY ?? 7 * 24 * 3600) },
  keepalive,
  reconnectPeriod: 2000,
  connectTimeout: 10_000,
  // Losing the connection (no DISCONNECT) puts the app in the background.
  will: { topic: status, payload: Buffer.from(focus(0)), qos: 1, retain: false },
});

const setFocus = async (value) => {
  await client.publishAsync(status, focus(value), { qos: 1 });
  print("focus", { focus: value });
};

client.on("connect", async (connack) => {
  print("connected", {
    client_id: client.options.clientId,
    session_present: connack.sessionPresent,
    keepalive_asked: keepalive,
    server_keepalive: connack.properties?.serverKeepAlive ?? null,
  });
  try {
    // A resumed session keeps its subscriptions; a new one subscribes.
    if (!connack.sessionPresent) {
      const filters = [`${app}/user/${userId}/#`, ...groups.map((g) => `${app}/group/${g}/#`)];
      const granted = await client.subscribeAsync(filters, { qos: 1 });
      for (const g of granted) print("subscribed", { topic: g.topic, qos: g.qos });
    }
    // A new connection starts with focus 0: the app in the foreground says so.
    await setFocus(1);
  } catch (err) {
    print("error", { message: String(err?.message ?? err) });
  }
});

client.on("message", (topic, payload, packet) => {
  const text = payload.toString();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: shown as text
  }
  const msgId = packet.properties?.userProperties?.msg_id ?? null;
  print("message", { topic, msg_id: msgId, dup: packet.dup, payload: body });
});
client.on("offline", () => print("offline"));
client.on("close", () => print("close"));
client.on("error", (err) => print("error", { message: err.message }));

let quitting = false;
const quit = async () => {
  if (quitting) return;
  quitting = true;
  if (client.connected) await setFocus(0).catch(() => undefined);
  await client.endAsync(); // DISCONNECT: no Will; the session stays for SESSION_EXPIRY
  print("quit");
  process.exit(0);
};
process.on("SIGINT", quit);
process.on("SIGTERM", quit);

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = line.trim();
  if (command === "background") setFocus(0).catch((err) => print("error", { message: err.message }));
  else if (command === "foreground") setFocus(1).catch((err) => print("error", { message: err.message }));
  else if (command === "quit") quit();
  else if (command) print("error", { message: `unknown command ${command}` });
});
