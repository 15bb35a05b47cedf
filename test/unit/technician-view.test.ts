import { describe, expect, it } from "vitest";
import { z } from "zod";
import { joinedIssues } from "../../src/http/body";
import { pageOf } from "../../src/services/technician-view";

describe("pageOf (seed 001 §9)", () => {
  it("builds the paging object in the seed's fields", () => {
    expect(pageOf([], 1, 20, 0)).toEqual({
      page: 1,
      totalElements: 0,
      totalPages: 0,
      pageSize: 20,
      count: 0,
      list: [],
    });
  });
  it("rounds the page count up", () => {
    expect(pageOf(["a"], 3, 2, 5)).toMatchObject({ totalPages: 3, count: 1, totalElements: 5 });
  });
});

describe("joinedIssues", () => {
  const schema = z.object({ a: z.string("a不能为空"), b: z.string("b不能为空"), c: z.string("c不能为空") });
  it("joins the first message of each failing field with ',' in the given order", () => {
    const r = schema.safeParse({ b: "ok" });
    expect(r.success).toBe(false);
    if (!r.success) expect(joinedIssues(r.error, ["c", "a", "b"])).toBe("c不能为空,a不能为空");
  });
});
