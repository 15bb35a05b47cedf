import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson } from "../helpers/api";
import { registerTechnician, setTechColumns, T, techRow } from "../helpers/technicians";

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_MAGIC = [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00];

/** An image of `size` bytes: the magic bytes, then a recognisable filler. */
const image = (magic: number[], size = 256) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + size) & 0xff;
  bytes.set(magic);
  return bytes;
};

const form = (file?: Blob, name = "photo.png", field = "file") => {
  const f = new FormData();
  if (file) f.append(field, file, name);
  return f;
};

const textField = () => {
  const f = new FormData();
  f.append("file", "not a file");
  return f;
};

const upload = (kind: "avatar" | "idPhoto", token: string | undefined, body: BodyInit) =>
  callJson(`${T}/${kind}`, { body, token });

const keyOf = (path: string) => path.replace(/^\/uploads\//, "");
const NOT_FOUND = { result: false, message: "文件不存在", error: "NOT_FOUND", data: null };
const NO_FILE = { result: false, message: "没有上传文件", error: "NO_UPLOAD_FILE", data: null };
const TOO_LARGE = {
  result: false,
  message: "上传文件大小不能超过2MB",
  error: "UPLOAD_SIZE_EXCEED",
  data: null,
};

/** Every R2 object a technician owns under `technician/<kind>/`. */
const ownedObjects = async (id: number, kind: "avatar" | "idPhoto") => {
  const listed = await env.UPLOADS.list({ prefix: `technician/${kind}/`, include: ["customMetadata"] });
  return listed.objects.filter((o) => o.customMetadata?.owner === String(id)).map((o) => o.key);
};

const waitUntilGone = async (key: string) => {
  for (let i = 0; i < 100 && (await env.UPLOADS.head(key)); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return env.UPLOADS.head(key);
};

describe("POST avatar", () => {
  it("stores the image in R2, sets the avatar column and answers its path", async () => {
    const t = await registerTechnician();
    const bytes = image(PNG_MAGIC);
    const { status, body } = await upload("avatar", t.token, form(new Blob([bytes], { type: "image/png" })));
    expect(status).toBe(200);
    const path = String(body.data);
    expect(path).toMatch(/^\/uploads\/technician\/avatar\/\d{23}\.png$/);
    expect(body).toStrictEqual({ result: true, message: "", error: null, data: path });

    const object = await env.UPLOADS.get(keyOf(path));
    expect(object?.httpMetadata?.contentType).toBe("image/png");
    expect(object?.customMetadata).toStrictEqual({ owner: String(t.id), kind: "avatar" });
    expect(new Uint8Array(await (object as R2ObjectBody).arrayBuffer())).toStrictEqual(bytes);
    expect((await techRow(t.id))?.avatar).toBe(path);
    expect((await callJson(`${T}/me`, { token: t.token })).body).toMatchObject({ message: { avatar: path } });
  });

  it("recognises the type by content, not by name or declared type", async () => {
    const t = await registerTechnician();
    const jpeg = new Blob([image(JPEG_MAGIC)], { type: "image/png" });
    const { body } = await upload("avatar", t.token, form(jpeg, "photo.png"));
    expect(String(body.data)).toMatch(/^\/uploads\/technician\/avatar\/\d{23}\.jpg$/);
    expect((await env.UPLOADS.head(keyOf(String(body.data))))?.httpMetadata?.contentType).toBe("image/jpeg");
  });

  it("replacing the avatar deletes the old object", async () => {
    const t = await registerTechnician();
    const first = await upload("avatar", t.token, form(new Blob([image(PNG_MAGIC)])));
    const second = await upload("avatar", t.token, form(new Blob([image(JPEG_MAGIC)]), "b.jpg"));
    const [oldPath, newPath] = [String(first.body.data), String(second.body.data)];
    expect(second.body).toStrictEqual({ result: true, message: "", error: null, data: newPath });
    expect(newPath).not.toBe(oldPath);
    expect((await techRow(t.id))?.avatar).toBe(newPath);
    expect(await waitUntilGone(keyOf(oldPath))).toBeNull();
    expect(await env.UPLOADS.head(keyOf(newPath))).not.toBeNull();
    expect(await ownedObjects(t.id, "avatar")).toStrictEqual([keyOf(newPath)]);
  });

  it.each([
    ["a multipart body without `file`", () => form(new Blob([image(PNG_MAGIC)]), "a.png", "other")],
    ["an empty file", () => form(new Blob([]))],
    ["`file` as plain text", () => textField()],
    ["no body at all", () => ""],
  ])("answers NO_UPLOAD_FILE for %s", async (_label, make) => {
    const t = await registerTechnician();
    const { status, body } = await upload("avatar", t.token, make() as BodyInit);
    expect(status).toBe(200);
    expect(body).toStrictEqual(NO_FILE);
    expect((await techRow(t.id))?.avatar).toBeNull();
    expect(await ownedObjects(t.id, "avatar")).toStrictEqual([]);
  });

  it.each([
    ["just over 2 MB", 2 * 1024 * 1024 + 1],
    ["3 MB", 3 * 1024 * 1024],
  ])("answers 406 UPLOAD_SIZE_EXCEED for a file %s and stores nothing", async (_label, size) => {
    const t = await registerTechnician();
    const { status, body } = await upload("avatar", t.token, form(new Blob([image(PNG_MAGIC, size)])));
    expect(status).toBe(406);
    expect(body).toStrictEqual(TOO_LARGE);
    expect((await techRow(t.id))?.avatar).toBeNull();
    expect(await ownedObjects(t.id, "avatar")).toStrictEqual([]);
  });

  it("accepts exactly 2 MB", async () => {
    const t = await registerTechnician();
    const { body } = await upload("avatar", t.token, form(new Blob([image(PNG_MAGIC, 2 * 1024 * 1024)])));
    expect(body).toMatchObject({ result: true, error: null });
    expect((await env.UPLOADS.head(keyOf(String(body.data))))?.size).toBe(2 * 1024 * 1024);
  });

  it("answers INVALID_FILE_TYPE for a text file named .png", async () => {
    const t = await registerTechnician();
    const text = new Blob(["hello, this is not an image"], { type: "image/png" });
    const { status, body } = await upload("avatar", t.token, form(text, "fake.png"));
    expect(status).toBe(200);
    expect(body).toStrictEqual({
      result: false,
      message: "只能上传图片文件(png/jpg/gif/webp/heic)",
      error: "INVALID_FILE_TYPE",
      data: null,
    });
    expect((await techRow(t.id))?.avatar).toBeNull();
    expect(await ownedObjects(t.id, "avatar")).toStrictEqual([]);
  });

  it("needs a login", async () => {
    const { status, body } = await upload("avatar", undefined, form(new Blob([image(PNG_MAGIC)])));
    expect(status).toBe(401);
    expect(body).toStrictEqual({ status: false, message: "未登录" });
  });
});

describe("POST idPhoto", () => {
  it("stores the ID photo and sets id_photo", async () => {
    const t = await registerTechnician();
    const bytes = image(JPEG_MAGIC, 1000);
    const { status, body } = await upload("idPhoto", t.token, form(new Blob([bytes]), "id.jpg"));
    expect(status).toBe(200);
    const path = String(body.data);
    expect(path).toMatch(/^\/uploads\/technician\/idPhoto\/\d{23}\.jpg$/);
    expect(body).toStrictEqual({ result: true, message: "", error: null, data: path });
    const object = await env.UPLOADS.get(keyOf(path));
    expect(object?.httpMetadata?.contentType).toBe("image/jpeg");
    expect(object?.customMetadata).toStrictEqual({ owner: String(t.id), kind: "idPhoto" });
    expect(new Uint8Array(await (object as R2ObjectBody).arrayBuffer())).toStrictEqual(bytes);
    expect((await techRow(t.id))?.id_photo).toBe(path);
  });

  it("answers NO_UPLOAD_FILE and 406 UPLOAD_SIZE_EXCEED like the avatar", async () => {
    const t = await registerTechnician();
    expect((await upload("idPhoto", t.token, form())).body).toStrictEqual(NO_FILE);
    const big = await upload("idPhoto", t.token, form(new Blob([image(PNG_MAGIC, 2 * 1024 * 1024 + 10)])));
    expect(big.status).toBe(406);
    expect(big.body).toStrictEqual(TOO_LARGE);
    expect((await techRow(t.id))?.id_photo).toBeNull();
    expect(await ownedObjects(t.id, "idPhoto")).toStrictEqual([]);
  });

  it("a VERIFIED technician cannot replace the ID photo", async () => {
    const t = await registerTechnician();
    await setTechColumns(t.id, { status: "VERIFIED" });
    const { body } = await upload("idPhoto", t.token, form(new Blob([image(PNG_MAGIC)])));
    expect(body).toStrictEqual({
      result: false,
      message: "已认证的身份证照片不能修改",
      error: "ALREADY_VERIFIED",
      data: null,
    });
    expect(await ownedObjects(t.id, "idPhoto")).toStrictEqual([]);
  });
});

describe("GET /uploads", () => {
  it("serves an avatar to anyone", async () => {
    const t = await registerTechnician();
    const bytes = image(PNG_MAGIC, 300);
    const path = String((await upload("avatar", t.token, form(new Blob([bytes])))).body.data);
    const res = await call(path);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("cache-control")).toBe("public, max-age=86400");
    expect(new Uint8Array(await res.arrayBuffer())).toStrictEqual(bytes);
  });

  it.each(["/uploads/technician/avatar/20240101000000000999999.png", "/uploads/technician/avatar/..%2Fx"])(
    "answers 404 for a missing avatar %s",
    async (path) => {
      const { status, body } = await callJson(path);
      expect(status).toBe(404);
      expect(body).toStrictEqual(NOT_FOUND);
    },
  );

  it("serves an ID photo only to its owner and the admin", async () => {
    const owner = await registerTechnician();
    const other = await registerTechnician();
    const bytes = image(JPEG_MAGIC, 400);
    const path = String((await upload("idPhoto", owner.token, form(new Blob([bytes]), "id.jpg"))).body.data);

    const anonymous = await callJson(path);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toStrictEqual({ status: false, message: "未登录" });

    const stranger = await callJson(path, { token: other.token });
    expect(stranger.status).toBe(404);
    expect(stranger.body).toStrictEqual(NOT_FOUND);

    for (const init of [
      { token: owner.token },
      { headers: { authorization: `Bearer ${owner.token}` } },
      { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } },
    ]) {
      const res = await call(path, init);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/jpeg");
      expect(res.headers.get("cache-control")).toBe("private, no-store");
      expect(new Uint8Array(await res.arrayBuffer())).toStrictEqual(bytes);
    }

    const wrongAdmin = await callJson(path, { headers: { authorization: "Bearer not-the-admin-token" } });
    expect(wrongAdmin.status).toBe(401);
  });
});

describe("hostile uploads", () => {
  const text = (s: string) => new TextEncoder().encode(s);
  const concat = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  };

  it("a PNG/HTML polyglot named .html and declared text/html is stored and served as an inert PNG", async () => {
    const t = await registerTechnician();
    const bytes = concat(
      Uint8Array.from(PNG_MAGIC),
      text("<html><script>alert(document.cookie)</script></html>"),
    );
    const { body } = await upload(
      "avatar",
      t.token,
      form(new Blob([bytes], { type: "text/html" }), "evil.html"),
    );
    const path = String(body.data);
    expect(path).toMatch(/^\/uploads\/technician\/avatar\/\d{17,32}\.png$/);
    const res = await call(path);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; sandbox");
    await res.body?.cancel();
  });

  it.each([
    [
      "an SVG declared image/png",
      text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
      "a.png",
    ],
    ["HTML named .jpg", text("<!doctype html><script>alert(1)</script>"), "a.jpg"],
    ["a PNG header cut short", Uint8Array.from(PNG_MAGIC.slice(0, 4)), "a.png"],
  ])("refuses %s as INVALID_FILE_TYPE, storing nothing", async (_, bytes, name) => {
    const t = await registerTechnician();
    const { body } = await upload("avatar", t.token, form(new Blob([bytes], { type: "image/png" }), name));
    expect(body).toMatchObject({ result: false, error: "INVALID_FILE_TYPE" });
    expect(await ownedObjects(t.id, "avatar")).toStrictEqual([]);
  });

  it("a file name with a path in it does not choose the key", async () => {
    const t = await registerTechnician();
    const bytes = image(PNG_MAGIC);
    const name = "../../idPhoto/20240101000000000123456.png";
    const { body } = await upload("avatar", t.token, form(new Blob([bytes]), name));
    const path = String(body.data);
    expect(path).toMatch(/^\/uploads\/technician\/avatar\/\d{17,32}\.png$/);
    expect(await ownedObjects(t.id, "avatar")).toStrictEqual([keyOf(path)]);
    expect(await ownedObjects(t.id, "idPhoto")).toStrictEqual([]);
  });

  it.each([
    "/uploads/technician/avatar/..%2FidPhoto%2F20240101000000000123456.png",
    "/uploads/technician/avatar/%2e%2e%2fidPhoto%2f20240101000000000123456.png",
    "/uploads/technician/avatar/20240101000000000123456.png%00.html",
    "/uploads/technician/idPhoto/..%2Favatar%2F20240101000000000123456.png",
  ])("a key with traversal in it finds nothing: %s", async (path) => {
    const t = await registerTechnician();
    const { status } = await callJson(path, { token: t.token });
    expect(status).toBe(404);
  });

  it("another technician's ID photo is not reachable through the avatar path", async () => {
    const owner = await registerTechnician();
    const path = String(
      (await upload("idPhoto", owner.token, form(new Blob([image(JPEG_MAGIC)]), "id.jpg"))).body.data,
    );
    const name = path.split("/").pop() as string;
    const viaAvatar = await callJson(`/uploads/technician/avatar/${name}`);
    expect(viaAvatar.status).toBe(404);
  });
});
