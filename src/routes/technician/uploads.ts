import { eq } from "drizzle-orm";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { technicians } from "../../db/schema";
import { resultFail } from "../../errors";
import { api, route } from "../../http/openapi";
import { randomDigits } from "../../lib/crypto";
import { sniffImage, uploadStamp } from "../../lib/images";
import { requireTechnician } from "./session";

/** Seed 001 §5/§6: at most 2 MB. */
export const MAX_UPLOAD_BYTES = 2 * 1024 * 1024;
/** Room for the multipart framing around the file. */
const MULTIPART_SLACK = 64 * 1024;

const tooLarge = () => resultFail("UPLOAD_SIZE_EXCEED", "上传文件大小不能超过2MB", 406);
const noFile = () => resultFail("NO_UPLOAD_FILE", "没有上传文件");

type Kind = "avatar" | "idPhoto";

/** The public path of an upload; the R2 key is the same without the `/uploads/` prefix. */
export const uploadPath = (kind: Kind, name: string) => `/uploads/technician/${kind}/${name}`;
export const keyOfPath = (path: string) => path.replace(/^\/uploads\//, "");

const upload = (kind: Kind) =>
  route(
    api(),
    "technician",
    {
      method: "post",
      path: "/",
      summary:
        kind === "avatar" ? "Upload the avatar (public)" : "Upload the ID photo (only its owner reads it)",
      upload: true,
      envelope: "result",
      ok: z.string().describe("the upload's path, /uploads/technician/…"),
    },
    requireTechnician,
    // Refuses an oversize body from its Content-Length, or while streaming it, before anything is stored.
    bodyLimit({ maxSize: MAX_UPLOAD_BYTES + MULTIPART_SLACK, onError: () => Promise.reject(tooLarge()) }),
    async (c) => {
      const t = c.var.technician;
      if (kind === "idPhoto" && t.status === "VERIFIED") {
        throw resultFail("ALREADY_VERIFIED", "已认证的身份证照片不能修改");
      }
      if (!(c.req.header("content-type") ?? "").includes("multipart/form-data")) throw noFile();
      const form = await c.req.parseBody().catch(() => null);
      const file = form?.file;
      if (!(file instanceof File) || file.size === 0) throw noFile();
      if (file.size > MAX_UPLOAD_BYTES) throw tooLarge();
      const bytes = new Uint8Array(await file.arrayBuffer());
      const type = sniffImage(bytes);
      if (!type) throw resultFail("INVALID_FILE_TYPE", "只能上传图片文件(png/jpg/gif/webp/heic)");

      const path = uploadPath(kind, `${uploadStamp(Date.now())}${randomDigits(6)}.${type.ext}`);
      await c.env.UPLOADS.put(keyOfPath(path), bytes, {
        httpMetadata: { contentType: type.mime },
        customMetadata: { owner: String(t.id), kind },
      });
      const column = kind === "avatar" ? { avatar: path } : { idPhoto: path };
      try {
        await c.var.db.update(technicians).set(column).where(eq(technicians.id, t.id));
      } catch (err) {
        await c.env.UPLOADS.delete(keyOfPath(path)); // no orphan object behind a failed update
        throw err;
      }
      const previous = kind === "avatar" ? t.avatar : t.idPhoto;
      if (previous?.startsWith(`/uploads/technician/${kind}/`)) {
        c.executionCtx.waitUntil(c.env.UPLOADS.delete(keyOfPath(previous)));
      }
      return c.json({ result: true, message: "", error: null, data: path });
    },
  );

export const avatarUpload = upload("avatar");
export const idPhotoUpload = upload("idPhoto");
