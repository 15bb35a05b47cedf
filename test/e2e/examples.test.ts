import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, describe, it } from "vitest";
import {
  type App,
  BASE,
  closeAll,
  collectN,
  connectAs,
  createApp,
  eventually,
  makeGroup,
  mqttToken,
  presence,
  psp,
  setApp,
  sleep,
  subscribeCodes,
} from "./helpers";

// Each example in examples/ runs as a child process against the e2e platform, as a user runs it
// against `npm start`; what it does is read from its stdout (one JSON line per event).

const run = promisify(execFile);
const dir = mkdtempSync(path.join(tmpdir(), "edge-push-examples-"));
const children: ChildProcessWithoutNullStreams[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

type Event = { event: string; [k: string]: unknown };
const partnerEnv = (app: App) => ({
  ...process.env,
  BASE,
  APPKEY: app.appkey,
  SECRET: app.app_master_secret,
});

/** Starts `node <script>` and records its JSON lines; `wait` answers the first matching one. */
const start = (script: string, env: Record<string, string | undefined>) => {
  const child = spawn("node", [script], { env, stdio: ["pipe", "pipe", "pipe"] });
  children.push(child);
  const events: Event[] = [];
  const waiters: { pred: (e: Event) => boolean; resolve: (e: Event) => void }[] = [];
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += String(d);
  });
  createInterface({ input: child.stdout }).on("line", (line) => {
    const e = JSON.parse(line) as Event;
    events.push(e);
    for (const w of waiters.splice(0)) {
      if (w.pred(e)) w.resolve(e);
      else waiters.push(w);
    }
  });
  const wait = (pred: (e: Event) => boolean, ms = 20_000) =>
    new Promise<Event>((resolve, reject) => {
      const found = events.find(pred);
      if (found) return resolve(found);
      const timer = setTimeout(
        () =>
          reject(new Error(`${script}: no such event in ${ms} ms; got ${JSON.stringify(events)} ${stderr}`)),
        ms,
      );
      waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, events, wait, exited };
};

const content = (e: Event) => (e.payload as { content?: string } | undefined)?.content;
const message = (topic: string, text: string) => (e: Event) =>
  e.event === "message" && e.topic === topic && content(e) === text;

describe.concurrent("examples/, run as child processes against the platform", () => {
  it("phone: token, subscriptions, focus with Last Will, a persistent session that gets what was queued exactly once", async ({
    expect,
  }) => {
    const app = await createApp();
    // The group, with the Node sender's `call` (any partner call, signed).
    const call = (...args: string[]) =>
      run("node", ["examples/partner/send.mjs", "call", ...args], { env: partnerEnv(app) }).then(
        ({ stdout }) => JSON.parse(stdout) as { ret: string; data: Record<string, unknown> },
      );
    expect(await call("PUT", "/psp/groups/fam", '{"name":"family"}')).toMatchObject({ ret: "SUCCESS" });
    expect(await call("POST", "/psp/groups/fam/members", '{"add":["p1"]}')).toMatchObject({
      ret: "SUCCESS",
      data: { group_id: "fam", members: 1 },
    });
    const env = { ...partnerEnv(app), USER_ID: "p1", GROUP_IDS: "fam" };
    const phone = start("examples/phone/phone.mjs", env);

    const connected = await phone.wait((e) => e.event === "connected");
    expect(connected).toMatchObject({ client_id: "p1-phone", session_present: false });
    await phone.wait((e) => e.event === "focus" && e.focus === 1);
    expect(phone.events.filter((e) => e.event === "subscribed").map((e) => e.topic)).toEqual([
      `${app.name}/user/p1/#`,
      `${app.name}/group/fam/#`,
    ]);
    expect(await presence(app, "p1")).toMatchObject({ online: true, focus: 1 });

    // A push sent with the Node sender reaches the phone, on its user topic and on its group's.
    const talk = (text: string) => ({
      display_type: "message",
      body: { custom: { push_type: "talk", content: text } },
    });
    const send = (...args: string[]) =>
      run("node", ["examples/partner/send.mjs", ...args], { env: partnerEnv(app) });
    await send(
      "customizedcast",
      JSON.stringify({ alias: "p1", payload: talk("hello") }),
      "groupcast",
      JSON.stringify({ group_id: "fam", payload: talk("family") }),
    );
    const hello = await phone.wait(message(`${app.name}/user/p1/talk`, "hello"));
    expect(hello.msg_id).toEqual(expect.any(String));
    await phone.wait(message(`${app.name}/group/fam/talk`, "family"));

    // Background and foreground from its standard input.
    const focusBecomes = (focus: 0 | 1) =>
      eventually(
        () => presence(app, "p1"),
        (p) => p.focus === focus,
      );
    phone.child.stdin.write("background\n");
    await phone.wait((e) => e.event === "focus" && e.focus === 0);
    expect(await focusBecomes(0)).toMatchObject({ online: true, focus: 0 });
    phone.child.stdin.write("foreground\n");
    await phone.wait(
      (e) => e.event === "focus" && e.focus === 1 && phone.events.indexOf(e) > phone.events.indexOf(hello),
    );
    expect(await focusBecomes(1)).toMatchObject({ online: true, focus: 1 });

    // Kicked off by the server, mqtt.js reconnects by itself and resumes the session.
    expect((await psp(app, "POST", "/psp/users/p1/kick", { client_id: "p1-phone" })).body.data).toMatchObject(
      {
        closed: 1,
      },
    );
    await phone.wait((e) => e.event === "close");
    const resumed = await phone.wait((e) => e.event === "connected" && e.session_present === true);
    await phone.wait(
      (e) => e.event === "focus" && e.focus === 1 && phone.events.indexOf(e) > phone.events.indexOf(resumed),
    );
    expect(phone.events.filter((e) => e.event === "subscribed")).toHaveLength(2); // not again
    expect(await focusBecomes(1)).toMatchObject({ online: true, focus: 1 });

    // Another connection of the user keeps it online: focus 0 after kill -9 can only be the Will.
    await connectAs(app, "p1", { clientId: "p1-observer" });
    phone.child.kill("SIGKILL");
    await phone.exited;
    expect(await focusBecomes(0)).toMatchObject({ online: true, focus: 0 });

    // Sent while the phone is away: queued on its session...
    const { stdout } = await send(
      "customizedcast",
      JSON.stringify({ alias: "p1", payload: talk("while away") }),
    );
    const taskId = String(JSON.parse(stdout).data.task_id);
    const queued = await eventually(
      () => psp(app, "GET", `/psp/push/status?task_id=${taskId}`),
      (r) => Number(r.body.data.sent) >= 1,
    );
    expect(queued.body.data).toMatchObject({ sent: 1, delivered: 0 });

    // ...and the phone, started again with the same client id, resumes the session and gets it once.
    const again = start("examples/phone/phone.mjs", env);
    expect(await again.wait((e) => e.event === "connected")).toMatchObject({ session_present: true });
    await again.wait(message(`${app.name}/user/p1/talk`, "while away"));
    await again.wait((e) => e.event === "focus" && e.focus === 1);
    await sleep(1500);
    const messages = again.events.filter((e) => e.event === "message");
    expect(messages.map(content)).toEqual(["while away"]);
    expect(again.events.some((e) => e.event === "subscribed")).toBe(false); // the session kept them
    expect(await presence(app, "p1")).toMatchObject({ online: true, focus: 1 });

    // quit: focus 0, DISCONNECT, exit 0.
    again.child.stdin.write("quit\n");
    expect(await again.exited).toBe(0);
    expect(again.events.at(-1)).toMatchObject({ event: "quit" });
    expect(again.events.filter((e) => e.event === "focus").at(-1)).toMatchObject({ focus: 0 });
  }, 60_000);

  it("watch: follows the Server Keep Alive of its device class and stays connected; receipts for its pushes (5.0 and 3.1.1)", async ({
    expect,
  }) => {
    const app = await createApp();
    // A 4 s watch keepalive, so that a watch pinging at the 60 s it asked for would be cut after 6 s.
    await setApp(app, { mqtt_keepalive: { watch: 4, phone: 120, min: 1 }, embed_msg_id: true });
    await makeGroup(app, "fam", ["861234567890123", "861234567890124"]);
    const env = { ...partnerEnv(app), GROUP_IDS: "fam", KEEPALIVE: "60" };
    const watch5 = start("examples/watch/watch.mjs", { ...env, IMEI: "861234567890123" });
    // 3.1.1 has no Server Keep Alive: held to its own (4 s here), it pings at that pace.
    // It has its token from its partner backend (here the test): MQTT_TOKEN and APP, no secret.
    const watch4 = start("examples/watch/watch.mjs", {
      ...process.env,
      BASE,
      APP: app.name,
      MQTT_TOKEN: await mqttToken(app, "861234567890124", { device_class: "watch" }),
      IMEI: "861234567890124",
      GROUP_IDS: "fam",
      PROTOCOL: "4",
      KEEPALIVE: "4",
    });

    expect(await watch5.wait((e) => e.event === "connected")).toMatchObject({
      protocol: 5,
      keepalive_asked: 60,
      server_keepalive: 4,
      keepalive: 4,
    });
    expect(await watch4.wait((e) => e.event === "connected")).toMatchObject({
      protocol: 4,
      server_keepalive: null,
    });
    expect(await watch5.wait((e) => e.event === "token")).toMatchObject({ device_class: "watch" });
    expect(watch4.events.some((e) => e.event === "token")).toBe(false);
    await watch5.wait((e) => e.event === "subscribed" && e.topic === `${app.name}/group/fam/#`);
    await watch4.wait((e) => e.event === "subscribed" && e.topic === `${app.name}/group/fam/#`);

    await sleep(9000); // two keepalive deadlines of 6 s
    for (const w of [watch5, watch4]) {
      expect(w.events.filter((e) => e.event === "ping").length).toBeGreaterThanOrEqual(2);
      expect(w.events.filter((e) => ["close", "offline", "error"].includes(e.event))).toEqual([]);
      expect(w.events.filter((e) => e.event === "connected")).toHaveLength(1);
    }

    // A push to each watch and one to their family group; each watch sends an "opened" receipt.
    const payload = (text: string) => ({
      display_type: "message",
      body: { custom: { push_type: "voice", content: text } },
    });
    const tasks: string[] = [];
    for (const imei of ["861234567890123", "861234567890124"]) {
      const sent = await psp(app, "POST", "/psp/push/msg", {
        type: "customizedcast",
        alias: imei,
        payload: payload(imei),
      });
      tasks.push(String(sent.body.data.task_id));
    }
    await psp(app, "POST", "/psp/push/msg", {
      type: "groupcast",
      group_id: "fam",
      payload: payload("family"),
    });
    for (const [w, imei] of [
      [watch5, "861234567890123"],
      [watch4, "861234567890124"],
    ] as const) {
      const got = await w.wait(message(`${app.name}/user/${imei}/voice`, imei));
      await w.wait((e) => e.event === "receipt" && e.msg_id === got.msg_id);
      await w.wait(message(`${app.name}/group/fam/voice`, "family"));
    }
    for (const taskId of tasks) {
      const opened = await eventually(
        () => psp(app, "GET", `/psp/push/status?task_id=${taskId}`),
        (r) => r.body.data.opened === 1,
      );
      expect(opened.body.data).toMatchObject({ received: 1, opened: 1 });
    }
  }, 60_000);

  it("partner senders in Node, Python and Java: every push type and config push gets SUCCESS and a task_id, then its status", async ({
    expect,
  }) => {
    const app = await createApp();
    for (const token of ["dev-a", "dev-b"]) {
      await psp(app, "POST", "/psp/devices", {
        device_token: token,
        platform: "android",
        provider: "fcm",
        user_id: "u1",
      });
    }
    await makeGroup(app, "fam", ["u1"]);
    // The user's app, listening: what each sender sent must arrive as sent.
    const listener = await connectAs(app, "u1", { protocolVersion: 5, clientId: "listener" });
    expect(await subscribeCodes(listener, [`${app.name}/user/u1/#`, `${app.name}/group/fam/#`])).toEqual([
      1, 1,
    ]);
    // Five of each sender's pushes reach MQTT (below); then 1 s more, so that an extra one is seen too.
    const heard = collectN(listener, 15, 1000, 45_000);

    const senders: Record<string, [string, string[]]> = {
      node: ["node", ["examples/partner/send.mjs"]],
      python: ["python3", ["examples/partner/send.py"]],
      java: ["java", ["examples/partner/Send.java"]],
    };
    const results = await Promise.all(
      Object.entries(senders).map(async ([lang, [command, args]]) => {
        const msg = (type: string) => ({
          display_type: "message",
          body: { custom: { push_type: "talk", content: `${lang}-${type}` } },
        });
        // Non-ASCII JSON from a file (the JVM decodes arguments with the locale's charset).
        const file = path.join(dir, `customizedcast-${lang}.json`);
        writeFileSync(file, JSON.stringify({ alias: "u1", payload: msg(`customizedcast-你好`) }));
        const calls = [
          ["unicast", JSON.stringify({ device_tokens: "dev-a", payload: msg("unicast") })],
          ["listcast", JSON.stringify({ device_tokens: "dev-a,dev-b", payload: msg("listcast") })],
          ["customizedcast", file],
          ["groupcast", JSON.stringify({ group_id: "fam", payload: msg("groupcast") })],
          ["broadcast", JSON.stringify({ payload: msg("broadcast") })],
          [
            "config",
            JSON.stringify({
              type: "customizedcast",
              alias: "u1",
              payload: { body: `cache=2&lang=${lang}` },
            }),
          ],
        ];
        const argv = [
          ...calls.flatMap((c) => [...c, "status", "last"]),
          "groupcast",
          JSON.stringify({ group_id: "nope", payload: msg("x") }),
        ];
        // The last call fails (an unknown group): the sender says so and exits 1.
        const failed = await run(command, [...args, ...argv], { env: partnerEnv(app) }).then(
          () => {
            throw new Error(`${lang}: exit 0 despite a failed call`);
          },
          (err: { code: number; stdout: string; stderr: string }) => err,
        );
        expect(failed.code, failed.stderr).toBe(1);
        const lines = failed.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as Event & { ret: string; data: Record<string, unknown> });
        return { lang, calls, lines };
      }),
    );

    for (const { lang, calls, lines } of results) {
      expect(
        lines.map((l) => l.command),
        lang,
      ).toEqual([...calls.flatMap(([c]) => [c, "status"]), "groupcast"]);
      for (let i = 0; i < calls.length; i += 1) {
        const pushed = lines[2 * i];
        const status = lines[2 * i + 1];
        expect(pushed, `${lang} ${pushed?.command}`).toMatchObject({
          ret: "SUCCESS",
          data: { task_id: expect.any(String) },
        });
        expect(status, `${lang} status of ${pushed?.command}`).toMatchObject({
          ret: "SUCCESS",
          data: { task_id: pushed?.data.task_id, total: expect.any(Number), by_channel: expect.any(Object) },
        });
      }
      expect(lines.at(-1), lang).toMatchObject({ ret: "FAIL", data: { error_code: 3001 } });
    }

    // On MQTT: unicast, listcast and customizedcast (the devices' user, the alias) and config on
    // the user's topics, groupcast on the group's; broadcast reaches devices only.
    const got = await heard;
    for (const lang of Object.keys(senders)) {
      const mine = got.filter((m) => m.payload.includes(lang));
      expect(mine.map((m) => `${m.topic} ${m.payload}`).sort(), lang).toEqual(
        [
          `${app.name}/group/fam/talk {"push_type":"talk","content":"${lang}-groupcast"}`,
          `${app.name}/user/u1/config cache=2&lang=${lang}`,
          `${app.name}/user/u1/talk {"push_type":"talk","content":"${lang}-customizedcast-你好"}`,
          `${app.name}/user/u1/talk {"push_type":"talk","content":"${lang}-listcast"}`,
          `${app.name}/user/u1/talk {"push_type":"talk","content":"${lang}-unicast"}`,
        ].sort(),
      );
    }
  }, 60_000);
});
