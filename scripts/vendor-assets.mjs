#!/usr/bin/env node
// Copies the browser files the Worker serves as static assets from node_modules into
// public/docs/vendor/ (git-ignored): Scalar's standalone API reference for /docs. No CDN.
// Run by `npm start`, `npm test`, `npm run deploy` and the e2e build (bench/lib/platform.ts).
import { fileURLToPath } from "node:url";
import { copyIfChanged } from "./copy-if-changed.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}public/docs/vendor`;
const FILES = [["@scalar/api-reference/dist/browser/standalone.js", "scalar-api-reference.js"]];

for (const [from, to] of FILES) copyIfChanged(`${root}node_modules/${from}`, `${out}/${to}`);
