import { accountFail, resultFail } from "../errors";
import { technicianError } from "../http/envelopes";
import { api, route } from "../http/openapi";
import { isAdminRequest } from "./admin/auth";
import { resolveSession, tokenOf } from "./technician/session";

const NAME = /^[0-9]{17,32}\.(png|jpg|gif|webp|heic)$/;
const notFound = () => resultFail("NOT_FOUND", "文件不存在", 404);

const serve = async (bucket: R2Bucket, key: string, cacheControl: string) => {
  const object = await bucket.get(key);
  if (!object) throw notFound();
  const headers = new Headers();
  object.writeHttpMetadata(headers);
  headers.set("etag", object.httpEtag);
  headers.set("cache-control", cacheControl);
  headers.set("x-content-type-options", "nosniff");
  // Bytes a browser might still take for a page (a polyglot) can run nothing and reach nothing.
  headers.set("content-security-policy", "default-src 'none'; sandbox");
  return new Response(object.body, { headers });
};

/** CONTRACT §4: avatars are public; an ID photo only to its owner and the admin. */
export const uploadsRoute = api();
uploadsRoute.onError(technicianError);

route(
  uploadsRoute,
  "public",
  { method: "get", path: "/technician/avatar/{name}", summary: "A technician's avatar (public, from R2)" },
  async (c) => {
    const name = c.req.param("name");
    if (!NAME.test(name)) throw notFound();
    return serve(c.env.UPLOADS, `technician/avatar/${name}`, "public, max-age=86400");
  },
);

route(
  uploadsRoute,
  "public",
  {
    method: "get",
    path: "/technician/idPhoto/{name}",
    summary: "An ID photo: only to its owner (autoken / bearer session) and the admin (bearer ADMIN_TOKEN)",
    security: [{ technicianCookie: [] }, { technicianBearer: [] }, { adminBearer: [] }],
  },
  async (c) => {
    const name = c.req.param("name");
    const path = `/uploads/technician/idPhoto/${name}`;
    if (!isAdminRequest(c.req.header("authorization"), c.env.ADMIN_TOKEN)) {
      const session = await resolveSession(c.var.db, c.env.JWT_SECRET, tokenOf(c));
      if (!session) throw accountFail("未登录", 401);
      // Someone else's photo answers as if it did not exist.
      if (session.technician.idPhoto !== path) throw notFound();
    }
    if (!NAME.test(name)) throw notFound();
    return serve(c.env.UPLOADS, `technician/idPhoto/${name}`, "private, no-store");
  },
);
