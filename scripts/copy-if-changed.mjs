// Copies a file only when the target is missing or differs: a running `wrangler dev` watches
// public/, and rewriting an unchanged asset would make it reload (dropping every WebSocket).
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";

export function copyIfChanged(from, to) {
  mkdirSync(path.dirname(to), { recursive: true });
  if (existsSync(to) && readFileSync(from).equals(readFileSync(to))) return;
  copyFileSync(from, to);
}
