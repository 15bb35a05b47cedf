/**
 * `/docs` through `wrangler dev`: the page and the Scalar bundle it loads, served from the
 * Worker's static assets (public/docs/vendor/, scripts/vendor-assets.mjs), and /openapi.json.
 */
import { expect, it } from "vitest";
import { BASE } from "./helpers";

it("serves /docs, its local bundle and /openapi.json", async () => {
  const page = await fetch(`${BASE}/docs`);
  expect(page.status).toBe(200);
  expect(page.headers.get("content-type")).toMatch(/text\/html/);
  const html = await page.text();
  const src = /<script src="(\/docs\/vendor\/[^"]+\.js)"><\/script>/.exec(html)?.[1];
  expect(src).toBe("/docs/vendor/scalar-api-reference.js");

  const bundle = await fetch(`${BASE}${src}`);
  expect(bundle.status).toBe(200);
  expect(bundle.headers.get("content-type")).toMatch(/javascript/);
  expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);

  const doc = await fetch(`${BASE}/openapi.json`);
  expect(doc.status).toBe(200);
  expect(((await doc.json()) as { openapi: string }).openapi).toMatch(/^3\.1\./);

  // An unknown static file is a 404.
  const missing = await fetch(`${BASE}/docs/vendor/nothing.js`);
  expect(missing.status).toBe(404);
});
