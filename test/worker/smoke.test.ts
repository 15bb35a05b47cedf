import { describe, expect, it } from "vitest";
import { admin, callJson } from "../helpers/api";
import { registerTechnician, T } from "../helpers/technicians";

describe("smoke", () => {
  it("lists the built-in technician app", async () => {
    const { status, body } = await admin("/apps");
    expect(status).toBe(200);
    expect((body as unknown as { name: string }[]).map((a) => a.name)).toContain("technician");
  });
  it("registers and reads me", async () => {
    const t = await registerTechnician();
    const { body } = await callJson(`${T}/me`, { token: t.token });
    expect(body).toMatchObject({
      status: true,
      message: { id: t.id, phone: t.phone, status: "NEWLY_CREATED" },
    });
  });
});
