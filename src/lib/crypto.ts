/** WebCrypto helpers: hashes, random ids, constant-time comparison, AES-GCM, PBKDF2. */

const enc = new TextEncoder();
const dec = new TextDecoder();

export const toHex = (buf: ArrayBuffer | Uint8Array): string =>
  Array.from(buf instanceof Uint8Array ? buf : new Uint8Array(buf), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");

export const toBase64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
export const fromBase64 = (s: string): Uint8Array => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));

/** MD5 in hex (seed 003's validation token and Umeng's sign); workerd's WebCrypto supports MD5. */
export const md5Hex = async (text: string): Promise<string> =>
  toHex(await crypto.subtle.digest("MD5", enc.encode(text)));

export const sha256Hex = async (text: string): Promise<string> =>
  toHex(await crypto.subtle.digest("SHA-256", enc.encode(text)));

export const randomBytes = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
export const randomHex = (bytes: number): string => toHex(randomBytes(bytes));

/** A uniformly random string of `digits` decimal digits (SMS codes). */
export const randomDigits = (digits: number): string => {
  const max = 10 ** digits;
  const limit = Math.floor(0xffffffff / max) * max; // reject the biased tail
  for (;;) {
    const [n] = crypto.getRandomValues(new Uint32Array(1));
    if (n !== undefined && n < limit) return String(n % max).padStart(digits, "0");
  }
};

/** Constant-time equality of two strings (different lengths compare unequal, still in constant time). */
export const safeEqual = (a: string, b: string): boolean => {
  const ab = enc.encode(a);
  const bb = enc.encode(b);
  if (ab.byteLength !== bb.byteLength) {
    crypto.subtle.timingSafeEqual(ab, ab);
    return false;
  }
  return crypto.subtle.timingSafeEqual(ab, bb);
};

const aesKeys = new Map<string, Promise<CryptoKey>>();
/** AES-256-GCM key derived from the CREDENTIALS_KEY secret (any string; SHA-256 of it is the key). */
const aesKey = (secret: string): Promise<CryptoKey> => {
  let key = aesKeys.get(secret);
  if (!key) {
    key = crypto.subtle
      .digest("SHA-256", enc.encode(secret))
      .then((raw) => crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]));
    aesKeys.set(secret, key);
  }
  return key;
};

/** Encrypts text for storage: base64(iv(12) || ciphertext+tag). */
export const encryptSecret = async (secret: string, plaintext: string): Promise<string> => {
  const iv = randomBytes(12);
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await aesKey(secret), enc.encode(plaintext)),
  );
  const out = new Uint8Array(iv.byteLength + ct.byteLength);
  out.set(iv, 0);
  out.set(ct, iv.byteLength);
  return toBase64(out);
};

export const decryptSecret = async (secret: string, stored: string): Promise<string> => {
  const raw = fromBase64(stored);
  const pt = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: raw.subarray(0, 12) },
    await aesKey(secret),
    raw.subarray(12),
  );
  return dec.decode(pt);
};

/** The highest PBKDF2 iteration count the Workers runtime accepts. */
export const PBKDF2_ITERATIONS = 100_000;

const pbkdf2 = async (password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> => {
  const key = await crypto.subtle.importKey("raw", enc.encode(password), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(
    await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256),
  );
};

/** `pbkdf2-sha256$<iterations>$<salt>$<hash>` with a fresh 16-byte salt. */
export const hashPassword = async (password: string): Promise<string> => {
  const salt = randomBytes(16);
  const hash = await pbkdf2(password, salt, PBKDF2_ITERATIONS);
  return `pbkdf2-sha256$${PBKDF2_ITERATIONS}$${toBase64(salt)}$${toBase64(hash)}`;
};

export const verifyPassword = async (password: string, stored: string): Promise<boolean> => {
  const [scheme, iter, salt, hash] = stored.split("$");
  if (scheme !== "pbkdf2-sha256" || !iter || !salt || !hash) return false;
  const expected = fromBase64(hash);
  const actual = await pbkdf2(password, fromBase64(salt), Number(iter));
  return actual.byteLength === expected.byteLength && crypto.subtle.timingSafeEqual(actual, expected);
};
