import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";

describe("GET /healthz", () => {
  it("checks D1, R2 and the queue bindings, and says each passed", async () => {
    const { status, body } = await callJson("/healthz");
    expect(status).toBe(200);
    expect(body).toEqual({
      status: "ok",
      failed: [],
      checks: { d1: { ok: true }, r2: { ok: true }, queue: { ok: true } },
    });
  });
});
