/**
 * /openapi.json is generated from the route declarations (src/http/openapi.ts): every route the
 * Hono app serves must be in it, every operation answers something, and each surface says how it
 * is authenticated.
 */
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { call, callJson } from "../helpers/api";

type Operation = {
  responses?: Record<string, unknown>;
  security?: Record<string, string[]>[];
  tags?: string[];
};
type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string }>; schemas: Record<string, unknown> };
};

const METHODS = ["get", "post", "put", "delete", "patch"];

/** Every method + path the app routes, `:param` as `{param}`; middleware (`use`, method ALL) is not a route. */
const served = () =>
  [
    ...new Set(
      app.routes
        .filter((r) => r.method !== "ALL")
        .map(
          (r) => `${r.method.toLowerCase()} ${r.path.replaceAll(/:(\w+)/g, "{$1}").replace(/(.)\/$/, "$1")}`,
        ),
    ),
  ].sort();

describe("/openapi.json", async () => {
  const { status, body: doc } = await callJson<Doc>("/openapi.json");

  it("is OpenAPI 3.1", () => {
    expect(status).toBe(200);
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info.title).toBe("edge-push");
  });

  it("documents every route the app serves", () => {
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.keys(item)
          .filter((m) => METHODS.includes(m))
          .map((m) => `${m} ${path.replace(/(.)\/$/, "$1")}`),
      ),
    );
    const routes = served();
    expect(routes.length).toBeGreaterThan(60);
    expect(routes.filter((r) => !documented.has(r))).toEqual([]);
    // …and nothing that is not served.
    expect([...documented].filter((d) => !routes.includes(d))).toEqual([]);
  });

  it("gives every operation responses, a tag and its surface's security", () => {
    const schemes = Object.keys(doc.components.securitySchemes);
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method} ${path}`;
        expect(Object.keys(op.responses ?? {}).length, where).toBeGreaterThan(0);
        expect(op.tags?.length, where).toBe(1);
        const used = (op.security ?? []).flatMap((s) => Object.keys(s));
        for (const s of used) expect(schemes, where).toContain(s);
        if (path.startsWith("/api/admin/")) expect(used, where).toEqual(["adminBearer"]);
        if (path.startsWith("/psp/")) {
          expect(op.security, where).toEqual([
            { pspAppkey: [], pspTimestamp: [], pspSign: [] },
            { pspAppkey: [], pspTimestamp: [], pspValidationToken: [] },
          ]);
          expect(Object.keys(op.responses ?? {}), where).toEqual(
            expect.arrayContaining(["200", "400", "401", "403", "404", "413", "429", "500"]),
          );
        }
      }
    }
    expect(doc.paths["/api/mobile/technician/v2/me"]?.get?.security).toEqual([
      { technicianCookie: [] },
      { technicianBearer: [] },
    ]);
    expect(doc.paths["/api/mobile/technician/v2/login"]?.post?.security).toEqual([]);
    expect(doc.paths["/mqtt"]?.get?.security).toEqual([{ mqttToken: [] }, { mqttBearer: [] }]);
  });

  it("shows each surface's envelope and error codes", () => {
    const text = JSON.stringify(doc);
    const pspError = JSON.stringify(doc.components.schemas.PspError);
    for (const code of [2001, 2027, 2029, 2050, 1014, 4000])
      expect(pspError).toMatch(new RegExp(`\\b${code}\\b`));
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(["AdminError", "TechnicianAccountFail", "TechnicianResultFail"]),
    );
    expect(text).toContain("未登录");
    expect(text).toContain("md5hex(METHOD + url + timestamp + body + app_master_secret)");
    const push = doc.paths["/psp/push/msg"]?.post?.responses?.["401"];
    expect(JSON.stringify(push)).toContain("#/components/schemas/PspError");
    expect(JSON.stringify(push)).toContain("`2029` sign already used");
    expect(pspError).toContain('"ret"');
    const adminApps = doc.paths["/api/admin/apps"]?.post?.responses;
    expect(Object.keys(adminApps ?? {})).toEqual(expect.arrayContaining(["201", "401", "409"]));
  });
});

describe("/docs", () => {
  it("is an HTML page loading the local Scalar bundle (no CDN)", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('src="/docs/vendor/scalar-api-reference.js"');
    expect(html).toContain("/openapi.json");
    expect(html).not.toMatch(/https?:\/\//);
  });
});
