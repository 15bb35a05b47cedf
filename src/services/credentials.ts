import { and, eq } from "drizzle-orm";
import { importPKCS8 } from "jose";
import type { Db } from "../db/client";
import { appCredentials } from "../db/schema";
import { adminFail } from "../errors";
import { decryptSecret, encryptSecret } from "../lib/crypto";

export type Provider = "apns" | "getui" | "fcm";

/**
 * Refuses a private key the provider's signer could not use (APNs: ES256 on P-256; FCM: RS256),
 * so a bad key fails when it is stored, not at every later push.
 */
export async function assertSigningKey(field: string, pem: string, alg: "ES256" | "RS256"): Promise<void> {
  try {
    await importPKCS8(pem, alg);
  } catch {
    throw adminFail(400, "invalid_parameter", `${field}: not a PKCS #8 private key usable for ${alg}`);
  }
}

/** Stores an app's provider credentials, encrypted at rest (AES-GCM, CREDENTIALS_KEY). */
export const putCredentials = async (
  db: Db,
  key: string,
  appId: number,
  provider: Provider,
  data: unknown,
) => {
  const dataEnc = await encryptSecret(key, JSON.stringify(data));
  await db
    .insert(appCredentials)
    .values({ appId, provider, dataEnc })
    .onConflictDoUpdate({
      target: [appCredentials.appId, appCredentials.provider],
      set: { dataEnc, updatedAt: Date.now() },
    });
};

/** The app's credentials for a provider, decrypted, or null when none are stored. */
export const getCredentials = async <T>(
  db: Db,
  key: string,
  appId: number,
  provider: Provider,
): Promise<T | null> => {
  const row = await db.query.appCredentials.findFirst({
    where: and(eq(appCredentials.appId, appId), eq(appCredentials.provider, provider)),
  });
  return row ? (JSON.parse(await decryptSecret(key, row.dataEnc)) as T) : null;
};

/** Which providers an app has credentials for (never the credentials themselves). */
export const configuredProviders = async (db: Db, appId: number): Promise<Provider[]> =>
  (
    await db
      .select({ provider: appCredentials.provider })
      .from(appCredentials)
      .where(eq(appCredentials.appId, appId))
  ).map((r) => r.provider as Provider);
