import { describe, expect, it } from "vitest";
import { ADMIN, call } from "../helpers/api";
import { createApp, pspSigned } from "../helpers/psp";
import { registerTechnician, T } from "../helpers/technicians";

/** A body of `n` bytes sent as a stream, so no Content-Length tells its size up front. */
const streamOf = (n: number) => {
  let left = n;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left <= 0) return controller.close();
      const chunk = new Uint8Array(Math.min(left, 64 * 1024)).fill(0x20);
      left -= chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
};

describe("body limits: every surface refuses an oversize body in its own envelope", () => {
  it("psp: 413 before authentication reads the body (Content-Length or streamed)", async () => {
    const app = await createApp();
    const big = `{"type":"broadcast","pad":"${"x".repeat(300 * 1024)}"}`;
    const res = await pspSigned(app, "POST", "/psp/push/msg", big);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      ret: "FAIL",
      data: { error_code: 2022, error_msg: expect.any(String) },
    });
    const streamed = await call("/psp/push/msg", {
      method: "POST",
      body: streamOf(30 * 1024 * 1024),
      headers: { "x-appkey": app.appkey, "x-timestamp": String(Date.now()) },
    });
    expect(streamed.status).toBe(413);
    // A body under the limit is read as usual.
    expect((await pspSigned(app, "POST", "/psp/push/msg", '{"type":"broadcast"}')).status).toBe(400);
  });

  it("admin: 413 body_too_large", async () => {
    const res = await call("/api/admin/apps", {
      method: "POST",
      headers: { ...ADMIN, "content-type": "application/json" },
      body: JSON.stringify({ name: "big", pad: "x".repeat(100 * 1024) }),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: "body_too_large", message: expect.any(String) });
  });

  it("technician: 413 in the account envelope, while uploads keep their own 2 MB limit", async () => {
    const t = await registerTechnician();
    const res = await call(`${T}/me`, {
      method: "PUT",
      token: t.token,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ resume: "x".repeat(100 * 1024) }),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ status: false, message: "请求内容过大" });
    const form = new FormData();
    form.append("file", new File([new Uint8Array(200 * 1024)], "a.png", { type: "image/png" }));
    const upload = await call(`${T}/avatar`, { method: "POST", token: t.token, body: form });
    // 200 KiB reaches the upload handler (which refuses the bytes as no image), not the 64 KiB limit.
    expect(await upload.json()).toMatchObject({ result: false, error: "INVALID_FILE_TYPE" });
  });
});

describe("security headers", () => {
  it.each(["/", "/api/admin/apps", "/psp/app", `${T}/me`, "/no-such-path"])("on %s", async (path) => {
    const res = await call(path, { headers: ADMIN });
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("SAMEORIGIN");
    expect(res.headers.get("strict-transport-security")).toContain("max-age=");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("cross-origin-resource-policy")).toBe("same-origin");
  });

  it("public uploads may be embedded by other origins", async () => {
    const res = await call("/uploads/technician/avatar/none.png");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("cross-origin-resource-policy")).toBe("cross-origin");
  });
});
