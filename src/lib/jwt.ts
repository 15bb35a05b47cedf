import { errors, jwtVerify, SignJWT } from "jose";
import { type DeviceClass, isDeviceClass } from "../mqtt/session/keepalive";

/** Tokens signed with JWT_SECRET (HS256): technician sessions and MQTT tokens. */
export type TokenClaims = {
  /** The bare id: technician id, user id or watch imei. */
  sub: string;
  /** The app (tenant) name. */
  app: string;
  /** "session" for technician logins (with `sid`), "mqtt" for POST /psp/mqtt/token. */
  typ: "session" | "mqtt";
  sid?: string;
  /** MQTT tokens: the device class the app's keepalive settings are chosen by. */
  cls?: DeviceClass;
  /** MQTT tokens: the identity's token generation when it was issued (absent: 0). A token of an
   * older generation than the identity's current one is revoked (docs/mqtt.md "Revocation"). */
  gen?: number;
  exp: number;
};

const ISSUER = "edge-push";
const keyOf = (secret: string) => new TextEncoder().encode(secret);

export const signToken = async (
  secret: string,
  claims: Omit<TokenClaims, "exp">,
  ttlSeconds: number,
): Promise<{ token: string; exp: number }> => {
  const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
  const { sub, ...rest } = claims;
  const token = await new SignJWT(rest)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(ISSUER)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(keyOf(secret));
  return { token, exp };
};

/** The token's claims, or null when it is malformed, forged or expired. */
export const verifyToken = async (secret: string, token: string): Promise<TokenClaims | null> => {
  try {
    const { payload } = await jwtVerify(token, keyOf(secret), { issuer: ISSUER, algorithms: ["HS256"] });
    if (typeof payload.sub !== "string" || typeof payload.app !== "string" || typeof payload.exp !== "number")
      return null;
    if (payload.typ !== "session" && payload.typ !== "mqtt") return null;
    return {
      sub: payload.sub,
      app: payload.app,
      typ: payload.typ,
      sid: typeof payload.sid === "string" ? payload.sid : undefined,
      cls: isDeviceClass(payload.cls) ? payload.cls : undefined,
      gen: Number.isSafeInteger(payload.gen) ? (payload.gen as number) : undefined,
      exp: payload.exp,
    };
  } catch (err) {
    if (err instanceof errors.JOSEError) return null;
    throw err;
  }
};
