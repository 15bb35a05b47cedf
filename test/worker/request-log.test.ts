import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { userHub } from "../../src/hubs/common";
import { call } from "../helpers/api";
import { createApp, pspSigned } from "../helpers/psp";

// Issue 13 item 3: a request id on every answer (X-Request-Id) and one structured JSON line per
// request, the error lines carrying the same id.

const lines: string[] = [];
beforeAll(() => {
  for (const m of ["log", "error", "warn"] as const) {
    const original = console[m].bind(console);
    vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(" "));
      original(...args);
    });
  }
});
afterAll(() => vi.restoreAllMocks());

type Line = Record<string, unknown>;
const jsonLines = (): Line[] =>
  lines.flatMap((l) => {
    try {
      const v = JSON.parse(l) as unknown;
      return v && typeof v === "object" ? [v as Line] : [];
    } catch {
      return [];
    }
  });
const linesOf = (id: string) => jsonLines().filter((l) => l.request_id === id);

describe("request ids and request log lines", () => {
  it("answers every surface with X-Request-Id and logs one line for it, without the query", async () => {
    const app = await createApp();
    const answers = [
      await pspSigned(app, "GET", "/psp/app"),
      await call("/api/admin/apps", { headers: { authorization: "Bearer wrong" } }),
      await call("/api/mobile/technician/v2/me"),
      await call("/healthz"),
      await call("/no/such/path"),
      await call("/mqtt?token=not-a-token-secret", { headers: { upgrade: "websocket" } }),
    ];
    const ids = answers.map((r) => r.headers.get("x-request-id"));
    for (const id of ids.slice(0, 5)) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids.slice(0, 5)).size).toBe(5);

    const psp = linesOf(String(ids[0]));
    expect(psp).toEqual([
      expect.objectContaining({
        level: "info",
        msg: "request",
        method: "GET",
        path: "/psp/app",
        status: 200,
      }),
    ]);
    expect(psp[0]?.app).toBe(app.name);
    expect(typeof psp[0]?.ms).toBe("number");
    expect(linesOf(String(ids[1]))[0]).toMatchObject({ path: "/api/admin/apps", status: 401 });
    expect(linesOf(String(ids[2]))[0]).toMatchObject({ status: 401, app: "technician" });

    // The upgrade logs its line too, path only: the token stays out of every line.
    const upgrade = jsonLines().filter((l) => l.msg === "request" && l.path === "/mqtt");
    expect(upgrade.at(-1)).toMatchObject({ status: 401, request_id: expect.any(String) });
    expect(lines.filter((l) => l.includes("not-a-token-secret") || l.includes("sign="))).toEqual([]);
  });

  it("keeps a request id the client sent, and puts it on the fault's error line", async () => {
    const app = await createApp();
    await userHub(env, { app: app.name, id: "u1" }).injectFault("presence", 1);
    const mine = "trace-0123456789";
    const res = await pspSigned(app, "GET", "/psp/presence?user_id=u1", "", {});
    expect(res.status).toBe(500);
    const id = String(res.headers.get("x-request-id"));
    const logged = linesOf(id);
    expect(logged.map((l) => l.msg)).toEqual([
      expect.stringMatching(/^psp GET \/psp\/presence: /),
      "request",
    ]);
    expect(logged[0]).toMatchObject({ level: "error", surface: "psp", path: "/psp/presence" });

    const echoed = await call("/healthz", { headers: { "x-request-id": mine } });
    expect(echoed.headers.get("x-request-id")).toBe(mine);
    expect(linesOf(mine)).toEqual([expect.objectContaining({ path: "/healthz" })]);
  });
});
