#!/usr/bin/env node
// Creates .dev.vars from .dev.vars.example when it is missing (npm start, and `wrangler types`,
// which reads the secrets' names from .dev.vars), and adds to an existing .dev.vars any setting
// the example has gained since, with the example's value.
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";

const keys = (text) => new Set([...text.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("created .dev.vars from .dev.vars.example (change its secrets before exposing this server)");
} else {
  const example = readFileSync(".dev.vars.example", "utf8");
  const current = readFileSync(".dev.vars", "utf8");
  const have = keys(current);
  const missing = example.split("\n").filter((line) => {
    const key = /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1];
    return key !== undefined && !have.has(key);
  });
  if (missing.length) {
    appendFileSync(".dev.vars", `${current.endsWith("\n") ? "" : "\n"}${missing.join("\n")}\n`);
    console.log(
      `added to .dev.vars from .dev.vars.example: ${missing.map((l) => l.split("=")[0]).join(", ")}`,
    );
  }
}
