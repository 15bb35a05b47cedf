/** Image types accepted for uploads, recognised by their first bytes, never by name or header. */
export type ImageType = { ext: string; mime: string };

const startsWith = (b: Uint8Array, sig: number[], at = 0) => sig.every((v, i) => b[at + i] === v);
const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, to));

export const sniffImage = (b: Uint8Array): ImageType | null => {
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    return { ext: "png", mime: "image/png" };
  if (startsWith(b, [0xff, 0xd8, 0xff])) return { ext: "jpg", mime: "image/jpeg" };
  if (ascii(b, 0, 6) === "GIF87a" || ascii(b, 0, 6) === "GIF89a") return { ext: "gif", mime: "image/gif" };
  if (ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP") return { ext: "webp", mime: "image/webp" };
  if (
    ascii(b, 4, 8) === "ftyp" &&
    ["heic", "heix", "mif1", "msf1", "heim", "heis"].includes(ascii(b, 8, 12))
  ) {
    return { ext: "heic", mime: "image/heic" };
  }
  return null;
};

/** `yyyyMMddHHmmssSSS` in China Standard Time (UTC+8), as seed 001's upload names. */
export const uploadStamp = (ms: number): string => {
  const d = new Date(ms + 8 * 3600 * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return (
    `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}${p(d.getUTCMilliseconds(), 3)}`
  );
};
