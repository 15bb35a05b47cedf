import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * SMS webhook stand-in (CONTRACT §4's local provider): `POST /sms {phone, code}` records the
 * code; `GET /sms/last?phone=` answers the last one; `POST /sms/fail?phone=` makes the next
 * send to that phone fail with 503, once.
 */
export const createSmsStandIn = () => {
  const last = new Map<string, { code: string; count: number }>();
  const failNext = new Set<string>();

  return async (req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<boolean> => {
    if (req.method === "POST" && url.pathname === "/sms") {
      const { phone, code } = JSON.parse(body) as { phone: string; code: string };
      if (failNext.delete(phone)) {
        res.writeHead(503).end("unavailable");
        return true;
      }
      last.set(phone, { code, count: (last.get(phone)?.count ?? 0) + 1 });
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
      return true;
    }
    if (req.method === "GET" && url.pathname === "/sms/last") {
      const entry = last.get(url.searchParams.get("phone") ?? "");
      res
        .writeHead(entry ? 200 : 404, { "content-type": "application/json" })
        .end(JSON.stringify(entry ?? {}));
      return true;
    }
    if (req.method === "POST" && url.pathname === "/sms/fail") {
      failNext.add(url.searchParams.get("phone") ?? "");
      res.writeHead(204).end();
      return true;
    }
    return false;
  };
};
