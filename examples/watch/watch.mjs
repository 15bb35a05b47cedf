#!/usr/bin/env node
// A kid's watch MQTT client (CONTRACT §3, docs/mqtt.md) with mqtt.js: a token of device class
// "watch" (the app's watch keepalive, e.g. 300 s, told in the CONNACK as MQTT 5 Server Keep
// Alive and followed), a persistent session, its own topic and its family groups, and a receipt
// for every push it shows (`<app>/user/<imei>/receipt`).
//
//   BASE=http://127.0.0.1:8787 APPKEY=… SECRET=… IMEI=861234567890123 GROUP_IDS=family-42 node watch.mjs
//
// Environment:
//   BASE           the platform (default http://127.0.0.1:8787)
//   IMEI           the watch's id (the token's subject)
//   GROUP_IDS      comma-separated group ids the watch belongs to (optional)
//   MQTT_TOKEN     the watch's token, with APP (the app's name): what a real watch gets from
//                  its partner backend (POST /psp/mqtt/token {"sub": imei, "device_class": "watch"})
//   APPKEY, SECRET instead of MQTT_TOKEN: this script plays the partner backend and mints one
//   PROTOCOL       5 (default) or 4 (MQTT 3.1.1: no Server Keep Alive; the server holds it to its
//                  own keepalive raised to the app's floor)
//   KEEPALIVE      seconds asked for (default 60)
//   CLIENT_ID      default `watch-<IMEI>`
//   RECEIPT        the receipt state sent for each push: opened (default; a watch shows every
//                  push on its screen), received, dismissed, or none
//
// Prints one JSON line per event: token, connected (with the server's keepalive), subscribed,
// message, receipt, ping, offline, close, error.
import mqtt from "mqtt";
import { psp } from "../partner/send.mjs";

const env = process.env;
const base = env.BASE ?? "http://127.0.0.1:8787";
const imei = env.IMEI;
const groups = (env.GROUP_IDS ?? "").split(",").filter(Boolean);
const protocolVersion = env.PROTOCOL === "4" ? 4 : 5;
const keepalive = Number(env.KEEPALIVE ?? 60);
const receiptState = env.RECEIPT ?? "opened";
const print = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));
if (!imei) throw new Error("set IMEI");

async function credentials() {
  if (env.MQTT_TOKEN) {
    if (!env.APP) throw new Error("set APP (the app's name) with MQTT_TOKEN");
    return { token: env.MQTT_TOKEN, app: env.APP };
  }
  const partner = { ...env, BASE: base };
  const minted = await psp(
    "POST",
    "/psp/mqtt/token",
    JSON.stringify({ sub: imei, device_class: "watch" }),
    partner,
  );
  if (minted.ret !== "SUCCESS") throw new Error(`token: ${JSON.stringify(minted)}`);
  const app = env.APP ?? (await psp("GET", "/psp/app", "", partner)).data?.name;
  print("token", { sub: minted.data.sub, device_class: minted.data.device_class, app });
  return { token: minted.data.token, app };
}

const { token, app } = await credentials();

const client = mqtt.connect(`${base.replace(/^http/, "ws")}/mqtt?token=${encodeURIComponent(token)}`, {
  protocolVersion,
  clientId: env.CLIENT_ID ?? `watch-${imei}`,
  clean: false,
  ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 30 * 24 * 3600 } } : {}),
  keepalive,
  reconnectPeriod: 5000,
  connectTimeout: 10_000,
});

client.on("connect", async (connack) => {
  // MQTT 5: a Server Keep Alive in the CONNACK replaces the keepalive asked for [MQTT-3.2.2-21];
  // mqtt.js pings at that pace from now on.
  const serverKeepalive = connack.properties?.serverKeepAlive ?? null;
  print("connected", {
    protocol: protocolVersion,
    session_present: connack.sessionPresent,
    keepalive_asked: keepalive,
    server_keepalive: serverKeepalive,
    keepalive: serverKeepalive ?? keepalive,
  });
  if (connack.sessionPresent) return;
  const filters = [`${app}/user/${imei}/#`, ...groups.map((g) => `${app}/group/${g}/#`)];
  try {
    const granted = await client.subscribeAsync(filters, { qos: 1 });
    for (const g of granted) print("subscribed", { topic: g.topic, qos: g.qos });
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
  // MQTT 5: the user property msg_id; 3.1.1: in the body when the app sets embed_msg_id.
  const msgId = packet.properties?.userProperties?.msg_id ?? body?.msg_id ?? null;
  print("message", { topic, msg_id: msgId, payload: body });
  if (!msgId || receiptState === "none") return;
  const receipt = JSON.stringify({ receipts: [{ msg_id: String(msgId), state: receiptState }] });
  client
    .publishAsync(`${app}/user/${imei}/receipt`, receipt, { qos: 1 })
    .then(() => print("receipt", { msg_id: msgId, state: receiptState }))
    .catch((err) => print("error", { message: err.message }));
});
client.on("packetsend", (packet) => {
  if (packet.cmd === "pingreq") print("ping");
});
client.on("offline", () => print("offline"));
client.on("close", () => print("close"));
client.on("error", (err) => print("error", { message: err.message }));

const quit = async () => {
  await client.endAsync();
  print("quit");
  process.exit(0);
};
process.on("SIGINT", quit);
process.on("SIGTERM", quit);
