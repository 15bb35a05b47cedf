import { and, eq, gt } from "drizzle-orm";
import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import type { Db } from "../../db/client";
import { type TechnicianRow, technicianSessions, technicians } from "../../db/schema";
import type { AppEnv } from "../../env";
import { accountFail } from "../../errors";
import { signToken, verifyToken } from "../../lib/jwt";
import { openSession, SESSION_TTL_S } from "../../services/technicians";

export const COOKIE = "autoken";

/** The technician session token of a request: cookie `autoken`, or `Authorization: Bearer`. */
export const tokenOf = (c: Context): string | undefined => {
  const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "")?.[1]?.trim();
  return bearer || getCookie(c, COOKIE) || undefined;
};

/** The technician and session a token names, when the token is valid and its session alive. */
export const resolveSession = async (
  db: Db,
  jwtSecret: string,
  token: string | undefined,
): Promise<{ technician: TechnicianRow; sessionId: string } | null> => {
  if (!token) return null;
  const claims = await verifyToken(jwtSecret, token);
  if (claims?.typ !== "session" || claims.app !== "technician" || !claims.sid) return null;
  const [row] = await db
    .select({ technician: technicians })
    .from(technicianSessions)
    .innerJoin(technicians, eq(technicians.id, technicianSessions.technicianId))
    .where(
      and(
        eq(technicianSessions.id, claims.sid),
        eq(technicians.id, Number(claims.sub)),
        gt(technicianSessions.expiresAt, Date.now()),
      ),
    );
  return row ? { technician: row.technician, sessionId: claims.sid } : null;
};

/** CONTRACT §4: without a valid token, HTTP 401 `{"status": false, "message": "未登录"}`. */
export const requireTechnician = createMiddleware<AppEnv>(async (c, next) => {
  const session = await resolveSession(c.var.db, c.env.JWT_SECRET, tokenOf(c));
  if (!session) throw accountFail("未登录", 401);
  if (session.technician.banned) throw accountFail("帐户已被禁用", 403);
  c.set("technician", session.technician);
  c.set("sessionId", session.sessionId);
  await next();
});

/** The cookie is `Secure` except for plain http to localhost / 127.0.0.1 (CONTRACT §4). */
const isLocalHttp = (c: Context) => {
  const url = new URL(c.req.url);
  return url.protocol === "http:" && (url.hostname === "localhost" || url.hostname === "127.0.0.1");
};

/** Opens a session and sets `autoken` (HttpOnly, SameSite=Lax). */
export const startSession = async (c: Context<AppEnv>, technicianId: number): Promise<string> => {
  const sid = await openSession(c.var.db, technicianId);
  const { token } = await signToken(
    c.env.JWT_SECRET,
    { sub: String(technicianId), app: "technician", typ: "session", sid },
    SESSION_TTL_S,
  );
  setCookie(c, COOKIE, token, {
    httpOnly: true,
    sameSite: "Lax",
    secure: !isLocalHttp(c),
    path: "/",
    maxAge: SESSION_TTL_S,
  });
  return token;
};
