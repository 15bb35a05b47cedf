#!/usr/bin/env node
// Copies the console's browser libraries from node_modules into public/console/vendor/
// (git-ignored), served as static assets: no CDN. Run by `npm start`, the e2e setup (through
// bench/lib/platform.ts buildBundle) and `npm run deploy`. Safe to run again.
import { fileURLToPath } from "node:url";
import { copyIfChanged } from "./copy-if-changed.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}public/console/vendor/`;
const FILES = [
  // mqtt.js's browser build (ES module): MQTT over WebSocket in the page (the live tail).
  ["node_modules/mqtt/dist/mqtt.esm.js", "mqtt.esm.js"],
];
for (const [from, to] of FILES) copyIfChanged(`${root}${from}`, `${out}${to}`);
