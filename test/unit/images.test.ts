import { describe, expect, it } from "vitest";
import { sniffImage, uploadStamp } from "../../src/lib/images";

const bytes = (...parts: (number[] | string)[]) =>
  Uint8Array.from(
    parts.flatMap((p) => (typeof p === "string" ? Array.from(p, (ch) => ch.charCodeAt(0)) : p)),
  );

describe("sniffImage: the type comes from the bytes, never the name", () => {
  it.each([
    ["png", bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]), "image/png"],
    ["jpg", bytes([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]), "image/jpeg"],
    ["gif", bytes("GIF89a", [1, 0]), "image/gif"],
    ["gif", bytes("GIF87a", [1, 0]), "image/gif"],
    ["webp", bytes("RIFF", [0, 0, 0, 0], "WEBPVP8 "), "image/webp"],
    ["heic", bytes([0, 0, 0, 0x18], "ftypheic", [0, 0]), "image/heic"],
  ])("recognises %s", (ext, data, mime) => {
    expect(sniffImage(data)).toEqual({ ext, mime });
  });

  it.each([
    ["text", bytes("hello, this is not an image")],
    ["a truncated PNG signature", bytes([0x89, 0x50, 0x4e, 0x47])],
    ["an empty file", new Uint8Array()],
    ["a RIFF that is not WebP", bytes("RIFF", [0, 0, 0, 0], "WAVEfmt ")],
    ["an MP4", bytes([0, 0, 0, 0x18], "ftypisom")],
  ])("refuses %s", (_, data) => {
    expect(sniffImage(data)).toBeNull();
  });
});

describe("uploadStamp", () => {
  it("writes yyyyMMddHHmmssSSS in China Standard Time as seed 001's names", () => {
    // 2016-02-19 08:29:40.293 UTC is 16:29:40.293 in UTC+8 (seed 001: 20160219162940293…).
    expect(uploadStamp(Date.UTC(2016, 1, 19, 8, 29, 40, 293))).toBe("20160219162940293");
  });
  it("rolls over the date at midnight UTC+8", () => {
    expect(uploadStamp(Date.UTC(2026, 11, 31, 16, 0, 0, 5))).toBe("20270101000000005");
  });
});
