// With COUNT_OPS "0" (wrangler.toml, and the worker pool) nothing is counted and the counters'
// admin call is not there (src/lib/ops.ts; test/worker/ops.test.ts counts with it on).
import { describe, expect, it } from "vitest";
import { admin } from "../helpers/api";

describe("operation counters off (COUNT_OPS = 0)", () => {
  it("GET and DELETE /api/admin/ops answer 404 not_found", async () => {
    for (const method of ["GET", "DELETE"]) {
      const { status, body } = await admin("/ops", { method });
      expect(status).toBe(404);
      expect(body.error).toBe("not_found");
      expect(String(body.message)).toMatch(/COUNT_OPS/);
    }
  });
});
