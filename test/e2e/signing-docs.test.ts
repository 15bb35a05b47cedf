import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { BASE, createApp } from "./helpers";

const run = promisify(execFile);

/** The helpers docs/partner-api.md shows, each after a `<!-- tested: NAME -->` marker. */
const doc = readFileSync("docs/partner-api.md", "utf8");
const helpers = new Map(
  [...doc.matchAll(/<!-- tested: (\S+) -->\s*```\w+\n([\s\S]*?)```/g)].map((m) => [m[1], m[2]] as const),
);
const dir = mkdtempSync(path.join(tmpdir(), "edge-push-signing-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** How each helper is run as a command: `METHOD PATH [BODY]` after it. */
const runners: Record<string, (file: string) => [string, string[]]> = {
  "psp.sh": (file) => ["bash", ["-c", `source ${JSON.stringify(file)}; psp "$@"`, "psp"]],
  "psp.mjs": (file) => ["node", [file]],
  "psp.py": (file) => ["python3", [file]],
  "Psp.java": (file) => ["java", [file]],
};

describe("docs/partner-api.md signing helpers, run against the server", () => {
  it("shows a shell, JavaScript, Python and Java helper", () => {
    expect([...helpers.keys()].sort()).toEqual(Object.keys(runners).sort());
  });

  it.each(Object.keys(runners))(
    "%s signs a GET with a query, POSTs with a body, and every call succeeds",
    async (name) => {
      const file = path.join(dir, name);
      writeFileSync(file, helpers.get(name) ?? "");
      const app = await createApp();
      const env = { ...process.env, BASE, APPKEY: app.appkey, SECRET: app.app_master_secret };
      const [command, args] = (runners[name] as (f: string) => [string, string[]])(file);
      const psp = async (method: string, pathname: string, body?: unknown) => {
        const extra = body === undefined ? [] : [JSON.stringify(body)];
        const { stdout } = await run(command, [...args, method, pathname, ...extra], { env, cwd: dir });
        return JSON.parse(stdout) as { ret: string; data: Record<string, unknown> };
      };

      expect(await psp("GET", "/psp/app")).toMatchObject({ ret: "SUCCESS", data: { appkey: app.appkey } });
      const device = {
        device_token: `dev-${name.replace(/\W/g, "")}`,
        platform: "android",
        provider: "fcm",
        user_id: "u1",
      };
      expect((await psp("POST", "/psp/devices", device)).ret).toBe("SUCCESS");
      const pushed = await psp("POST", "/psp/push/msg", {
        type: "unicast",
        device_tokens: device.device_token,
        payload: { display_type: "message", body: { custom: { push_type: "talk", content: "你好" } } },
      });
      expect(pushed.ret).toBe("SUCCESS");
      const taskId = String(pushed.data.task_id);
      expect(await psp("GET", `/psp/push/status?task_id=${taskId}`)).toMatchObject({
        ret: "SUCCESS",
        data: { task_id: taskId, by_channel: expect.any(Object) },
      });
      expect(await psp("GET", "/psp/presence?user_id=u1")).toMatchObject({
        ret: "SUCCESS",
        data: { user_id: "u1", online: false },
      });
      // A refusal is read as such: a task of nobody's is 404 / 1014 in the envelope.
      expect(await psp("GET", "/psp/push/status?task_id=nope")).toMatchObject({
        ret: "FAIL",
        data: { error_code: 1014 },
      });
    },
    90_000,
  );
});
