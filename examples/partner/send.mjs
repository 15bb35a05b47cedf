#!/usr/bin/env node
// A partner backend's signer and sender (CONTRACT §2), Node 18+, no packages.
//
//   node send.mjs <command> <json-file-or-inline> [<command> <arg> ...]
//
// Commands: unicast, listcast, customizedcast, groupcast, broadcast (POST /psp/push/msg, the
// command is the body's `type`), config (POST /psp/push/config, the JSON names its own `type`),
// status <task_id | last> (GET /psp/push/status; `last` is the task of the previous command).
// Any other partner call, signed the same way: node send.mjs call <METHOD> <PATH> [BODY].
// Environment: BASE (default http://127.0.0.1:8787), APPKEY, SECRET (the app_master_secret).
// Prints one JSON line per call, {"command": ..., "ret": ..., "data": ...}; exits 1 if any failed.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const PUSH_TYPES = ["unicast", "listcast", "customizedcast", "groupcast", "broadcast"];

const md5 = (text) => createHash("md5").update(text, "utf8").digest("hex");
let lastTimestamp = 0;

/**
 * One signed partner call: sign = md5(METHOD + url + timestamp + body + secret), `url` with its
 * query string exactly as sent, `sign` appended last. A sign is good once, so no two calls share
 * a timestamp.
 */
export async function psp(method, path, body = "", env = process.env) {
  if (!env.APPKEY || !env.SECRET) throw new Error("set APPKEY and SECRET");
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  const timestamp = String(lastTimestamp);
  const url = (env.BASE ?? "http://127.0.0.1:8787") + path;
  const sign = md5(method.toUpperCase() + url + timestamp + body + env.SECRET);
  const res = await fetch(`${url}${path.includes("?") ? "&" : "?"}sign=${sign}`, {
    method,
    headers: { "X-Appkey": env.APPKEY, "X-Timestamp": timestamp, "Content-Type": "application/json" },
    body: body || undefined,
  });
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return { ret: "FAIL", data: { http_status: res.status, text } };
  }
}

/** An argument is inline JSON when it starts with `{`, else the name of a JSON file. */
const readJson = (arg) => JSON.parse(arg.trimStart().startsWith("{") ? arg : readFileSync(arg, "utf8"));

/** The call a command makes: method, path and body. */
export function requestFor(command, arg, lastTaskId) {
  if (PUSH_TYPES.includes(command)) {
    return {
      method: "POST",
      path: "/psp/push/msg",
      body: JSON.stringify({ ...readJson(arg), type: command }),
    };
  }
  if (command === "config") {
    const body = readJson(arg);
    if (!PUSH_TYPES.includes(body.type)) throw new Error(`config: "type" must be one of ${PUSH_TYPES}`);
    return { method: "POST", path: "/psp/push/config", body: JSON.stringify(body) };
  }
  if (command === "status") {
    const taskId = arg === "last" ? lastTaskId : arg;
    if (!taskId) throw new Error("status: no task id (and no previous push)");
    return { method: "GET", path: `/psp/push/status?task_id=${encodeURIComponent(taskId)}`, body: "" };
  }
  throw new Error(`unknown command ${command}: use ${PUSH_TYPES.join(", ")}, config or status`);
}

async function main(args) {
  if (args[0] === "call" && (args.length === 3 || args.length === 4)) {
    const answer = await psp(args[1].toUpperCase(), args[2], args[3] ?? "");
    console.log(JSON.stringify({ command: "call", ...answer }));
    process.exitCode = answer.ret === "SUCCESS" ? 0 : 1;
    return;
  }
  if (args.length === 0 || args.length % 2 !== 0) {
    console.error("usage: node send.mjs <command> <json-file-or-inline | task_id> [<command> <arg> ...]");
    console.error("       node send.mjs call <METHOD> <PATH> [BODY]");
    process.exit(2);
  }
  let lastTaskId;
  let ok = true;
  for (let i = 0; i < args.length; i += 2) {
    const command = args[i];
    const { method, path, body } = requestFor(command, args[i + 1], lastTaskId);
    const answer = await psp(method, path, body);
    if (answer.ret !== "SUCCESS") ok = false;
    if (answer.data?.task_id) lastTaskId = answer.data.task_id;
    console.log(JSON.stringify({ command, ...answer }));
  }
  process.exitCode = ok ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
