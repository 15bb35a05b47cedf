#!/usr/bin/env node
// Creates .dev.vars from .dev.vars.example when it is missing (npm start, and `wrangler types`,
// which reads the secrets' names from .dev.vars).
import { copyFileSync, existsSync } from "node:fs";

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("created .dev.vars from .dev.vars.example (change its secrets before exposing this server)");
}
