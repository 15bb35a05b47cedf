import { describe, expect, it } from "vitest";
import { signedUrl, signInput } from "../../src/lib/psp-sign";

describe("signedUrl (CONTRACT §2: the url a sign covers)", () => {
  it.each([
    ["https://h/psp/app?sign=abc", "https://h/psp/app"],
    ["https://h/psp/app", "https://h/psp/app"],
    ["https://h/psp/push/status?task_id=X&sign=abc", "https://h/psp/push/status?task_id=X"],
    ["https://h/p?a=1&b=%20x&sign=abc", "https://h/p?a=1&b=%20x"],
    ["https://h/p?b=2&a=1&sign=abc", "https://h/p?b=2&a=1"],
    ["https://h/p?sign=abc&a=1", "https://h/p?a=1"],
    ["https://h/p?signature=1&sign=abc", "https://h/p?signature=1"],
    ["https://h/p?a=1&sign=", "https://h/p?a=1"],
    ["https://h/p?a=1&sign", "https://h/p?a=1"],
    ["https://h/p?a=1&sign=abc#frag", "https://h/p?a=1"],
    ["https://h/p?a=1&&sign=abc", "https://h/p?a=1&"],
    ["https://h/p?&sign=abc", "https://h/p?"],
  ])("%s covers %s", (raw, url) => {
    expect(signedUrl(raw)).toBe(url);
  });

  it("joins METHOD (in capitals), url, timestamp, body and secret", () => {
    expect(signInput("post", "https://h/p?a=1", "1700000000000", '{"x":1}', "s3cret")).toBe(
      'POSThttps://h/p?a=11700000000000{"x":1}s3cret',
    );
  });
});
