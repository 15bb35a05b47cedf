import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ROOT } from "../../bench/lib/platform";
import { adminCall, BASE, eventually, makeGroup } from "./helpers";

// Issue 13 items 4 and 5: the console at /console, driven in Debian's headless Chromium through
// playwright-core (never a downloaded browser): sign in, create an app, change a setting, tail
// a user over MQTT-over-WebSocket from the page, send a test push from the form and see it in
// the tail, open its task, approve a technician, see the deliveries chart move. Screenshots go
// to test-artifacts/.

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = path.join(ROOT, "test-artifacts");
const T = `${BASE}/api/mobile/technician/v2`;
// A 1×1 PNG, for the technician's id photo.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

let browser: Browser | undefined;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  const why = inject("e2eChromiumError");
  if (why) throw new Error(`Debian's Chromium is needed for the console tests: ${why}`);
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  // A CSP violation or a script error in the page fails the test.
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
  });
}, 30_000);

afterAll(async () => {
  await browser?.close();
});

const shot = (name: string) =>
  page.screenshot({ path: path.join(SHOTS, `console-${name}.png`), fullPage: true });

/** The code `SMS_LOG_CODES=true` wrote to wrangler dev's output for `phone`. */
const smsCode = (phone: string) =>
  eventually(
    async () =>
      new RegExp(`\\[sms\\] code for ${phone}: (\\d{6})`).exec(readFileSync(inject("e2eLog"), "utf8"))?.[1],
    (code) => code !== undefined,
  );

/** Registers a technician through the technician API and submits it for certification. */
const technicianAwaitingCertification = async () => {
  const phone = `137${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;
  const json = { "content-type": "application/json" };
  const sms = await fetch(`${T}/verifySms`, {
    method: "POST",
    headers: json,
    body: JSON.stringify({ phone }),
  });
  expect(((await sms.json()) as { result: boolean }).result).toBe(true);
  const verifySms = await smsCode(phone);
  const reg = await fetch(`${T}/register`, {
    method: "POST",
    headers: json,
    body: JSON.stringify({ phone, password: "secret123", verifySms }),
  });
  const account = (await reg.json()) as { status: boolean; message: { id: number } };
  expect(account.status).toBe(true);
  const token = /autoken=([^;]+)/.exec(reg.headers.get("set-cookie") ?? "")?.[1];
  const auth = { authorization: `Bearer ${token}` };
  const me = await fetch(`${T}/me`, {
    method: "PUT",
    headers: { ...json, ...auth },
    body: JSON.stringify({ name: "Console Tester", idNo: "11010519491231002X" }),
  });
  expect(((await me.json()) as { status: boolean }).status).toBe(true);
  const form = new FormData();
  form.append("file", new Blob([PNG], { type: "image/png" }), "id.png");
  const photo = await fetch(`${T}/idPhoto`, { method: "POST", headers: auth, body: form });
  expect(((await photo.json()) as { result: boolean }).result).toBe(true);
  const cert = await fetch(`${T}/certification`, { method: "POST", headers: auth });
  expect(((await cert.json()) as { message: { status: string } }).message.status).toBe("IN_VERIFICATION");
  return account.message.id;
};

describe("the console in headless Chromium", () => {
  it("signs in, creates an app, tails a push it sends, approves a technician, charts deliveries", async () => {
    const technician = technicianAwaitingCertification();

    // Sign in with the admin token.
    await page.goto(`${BASE}/console/`);
    await page.fill("#signin-token", inject("e2eAdminToken"));
    await page.click("#signin-form button[type=submit]");
    await page.waitForSelector("#view-apps:not([hidden]) #apps-table tr[data-app='technician']");
    await shot("1-signed-in");

    // Create an app: its secret is shown once; it becomes the current app.
    const name = `console-${Date.now().toString(36)}`;
    await page.fill("#create-app-name", name);
    await page.click("#create-app-form button[type=submit]");
    const appkey = (await page.textContent("#created-appkey")) ?? "";
    const secret = (await page.textContent("#created-secret")) ?? "";
    expect(appkey).toMatch(/\w{8,}/);
    await page.waitForSelector(`#apps-table tr.selected[data-app='${name}']`);
    await page.waitForSelector("#providers li[data-provider='apns']");
    expect(await page.textContent("#providers")).toContain("apns: not set");

    // Switch the legacy token off from the settings form.
    await page.waitForFunction(() =>
      Boolean((document.querySelector("#settings-form [name=legacy_token]") as HTMLInputElement)?.checked),
    );
    await page.uncheck("#settings-form [name=legacy_token]");
    await page.click("#settings-form button[type=submit]");
    await page.waitForSelector("#status:text('settings saved')");
    expect((await adminCall("GET", `/apps/${appkey}`)).body).toMatchObject({ name, legacy_token: false });
    await shot("2-app-created");

    // The live tail of user alice, over MQTT-over-WebSocket from the page.
    await page.goto(`${BASE}/console/#live`);
    await page.fill("#tail-form [name=user]", "alice");
    await page.click("#tail-start");
    await page.waitForSelector("#tail-state[data-ready='1']");
    expect(await page.textContent("#tail-state")).toContain(`tailing ${name}/user/alice/#`);

    // A test push to alice from the form.
    await page.click("#nav a[href='#send']");
    await page.selectOption("#send-form [name=to]", "user");
    await page.fill("#send-form [name=target]", "alice");
    await page.fill("#send-form [name=text]", "hello from the browser test");
    await page.click("#send-form button[type=submit]");
    const taskId = (await page.textContent("#sent-task")) ?? "";
    expect(taskId.length).toBeGreaterThan(8);

    // It arrives in the tail.
    await page.click("#nav a[href='#live']");
    const line = await page.waitForSelector(`#tail li[data-topic='${name}/user/alice/msg']`, {
      timeout: 15_000,
    });
    expect(await line.textContent()).toContain("hello from the browser test");
    await shot("3-live-tail");

    // Its task: counts per channel and alice's timeline.
    await page.click("#nav a[href='#tasks']");
    await page.click(`#tasks-table tr[data-task='${taskId}']`);
    await page.waitForSelector("#task-counts dd[data-count='total']");
    expect(await page.textContent("#task-counts dd[data-count='total']")).toBe("1");
    await page.click("#task-targets tbody tr");
    await page.waitForSelector("#trace:not([hidden]) #trace-events li");
    await shot("4-task");

    // A group with alice and bob: the tail (still running) makes alice online.
    await makeGroup({ name, appkey, app_master_secret: secret }, "family", ["alice", "bob"]);
    await page.click("#nav a[href='#live']");
    await page.selectOption("#group-form [name=group]", "family");
    await page.click("#group-form button[type=submit]");
    await page.waitForSelector("#group-members tr[data-user='alice'] td.online");
    expect(await page.textContent("#group-members tr[data-user='bob']")).toContain("offline");
    await shot("5-group");

    // The technician awaits certification; approve it in the console.
    const id = await technician;
    await page.click("#nav a[href='#technicians']");
    await page.click("#technicians-refresh");
    await page.click(`#technicians-table tr[data-technician='${id}'] button.approve`);
    await page.waitForSelector(`#status:text('technician ${id}: VERIFIED')`);
    await page.waitForSelector(`#technicians-table tr[data-technician='${id}']`, { state: "detached" });
    const verified = await adminCall("GET", "/technicians?status=VERIFIED&limit=200");
    expect((verified.body.items as { id: number }[]).some((t) => t.id === id)).toBe(true);
    await shot("6-technician-approved");

    // The chart of deliveries per minute shows the push's MQTT delivery.
    await page.click("#nav a[href='#metrics']");
    await page.waitForSelector("#chart circle[data-point^='mqtt sent:']", { timeout: 20_000 });
    expect(await page.textContent("#chart-legend")).toContain("mqtt sent: 1");
    await shot("7-chart");

    expect(problems).toEqual([]);
  }, 60_000);
});
