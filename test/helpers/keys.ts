import { toBase64 } from "../../src/lib/crypto";

/** DER bytes as a PEM block. */
export const pem = (label: string, der: ArrayBuffer) =>
  `-----BEGIN ${label}-----\n${toBase64(new Uint8Array(der)).replace(/.{64}/g, "$&\n")}\n-----END ${label}-----\n`;

const pair = async (algorithm: Parameters<typeof crypto.subtle.generateKey>[0]) => {
  const keys = (await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  return {
    /** PKCS #8, as an APNs .p8 key or a service account's `private_key`. */
    privatePem: pem("PRIVATE KEY", (await crypto.subtle.exportKey("pkcs8", keys.privateKey)) as ArrayBuffer),
    /** SPKI, for a stand-in to verify signatures with. */
    publicPem: pem("PUBLIC KEY", (await crypto.subtle.exportKey("spki", keys.publicKey)) as ArrayBuffer),
  };
};

/** An ES256 (P-256) key pair, as APNs token auth uses. */
export const ecKeyPair = () => pair({ name: "ECDSA", namedCurve: "P-256" });

/** An RS256 key pair, as a Google service account has. */
export const rsaKeyPair = () =>
  pair({
    name: "RSASSA-PKCS1-v1_5",
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: "SHA-256",
  });
