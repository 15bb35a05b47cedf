/**
 * The partner request signature (CONTRACT §2), pure: no runtime, no I/O.
 *
 * `sign = md5hex(METHOD + url + timestamp + body + app_master_secret)`, where `url` is the request
 * URL as the client sent it (scheme, host, path and query string) without the `sign` parameter,
 * which comes last: `https://host/psp/push/status?task_id=X` for `…?task_id=X&sign=…`, and the
 * bare path when `sign` is the only parameter.
 */

/**
 * The URL a sign covers: `rawUrl` without its fragment and without its `sign` parameter; every
 * other byte of the query stays as sent (empty parameters too), so the server signs what the
 * client signed.
 */
export function signedUrl(rawUrl: string): string {
  const hash = rawUrl.indexOf("#");
  const url = hash < 0 ? rawUrl : rawUrl.slice(0, hash);
  const q = url.indexOf("?");
  if (q < 0) return url;
  const kept = url
    .slice(q + 1)
    .split("&")
    .filter((part) => part !== "sign" && !part.startsWith("sign="));
  return kept.length ? `${url.slice(0, q)}?${kept.join("&")}` : url.slice(0, q);
}

/** The text whose MD5 is the sign: METHOD in capitals, then url, timestamp, body and secret. */
export function signInput(method: string, url: string, timestamp: string, body: string, secret: string) {
  return method.toUpperCase() + url + timestamp + body + secret;
}
