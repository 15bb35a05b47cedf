/**
 * `wrangler deploy --dry-run` for the local (top-level), staging and production configurations
 * of wrangler.toml (docs/deploy.md): each builds, each environment has every binding the Worker
 * has locally (wrangler does not inherit bindings or vars into an environment, so a binding
 * added only at the top level would be missing in production), under its own resource names.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const out = mkdtempSync(path.join(tmpdir(), "edge-push-dry-run-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

type Binding = { name: string; resource: string; kind: string };

const dryRun = (env?: string): { status: number | null; output: string; bindings: Binding[] } => {
  const args = ["wrangler", "deploy", "--dry-run", "--outdir", path.join(out, env ?? "local")];
  if (env) args.push("--env", env);
  const r = spawnSync("npx", args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, CI: "true", NO_COLOR: "1", WRANGLER_SEND_METRICS: "false" },
    timeout: 120_000,
  });
  const output = `${r.stdout}${r.stderr}`;
  const bindings = [...output.matchAll(/^env\.(\w+) \((.*?)\)\s+(\S.*?)\s*$/gm)].map((m) => ({
    name: m[1] as string,
    resource: m[2] as string,
    kind: m[3] as string,
  }));
  return { status: r.status, output, bindings };
};

describe("wrangler.toml environments", () => {
  const local = dryRun();

  it("the local configuration builds", () => {
    expect(local.status, local.output).toBe(0);
    expect(local.bindings.length).toBeGreaterThan(10);
  });

  it.each(["staging", "production"])(
    "%s builds with every binding, under its own names",
    (env) => {
      const r = dryRun(env);
      expect(r.status, r.output).toBe(0);
      expect(r.output).not.toMatch(/WARNING|not inherited/i);
      expect(r.bindings.map((b) => b.name).sort()).toEqual(local.bindings.map((b) => b.name).sort());
      const named = r.bindings.filter((b) => /Queue|D1 Database|R2 Bucket/.test(b.kind));
      expect(named.length).toBeGreaterThanOrEqual(5);
      for (const b of named) expect(b.resource, b.name).toMatch(new RegExp(`-${env}$`));
      // Never the local development switches.
      expect(r.bindings.find((b) => b.name === "SMS_LOG_CODES")?.resource).toBe('"false"');
    },
    120_000,
  );
});
