import type { Api } from "./http/openapi";

const PSP_SIGN = `Every \`/psp/*\` call is authenticated before anything else (CONTRACT §2 and
docs/partner-api.md "Authentication", with signing code):

- \`X-Appkey\`: the app's appkey; \`X-Timestamp\`: milliseconds since the epoch, at most 10 minutes off;
- \`?sign=md5hex(METHOD + url + timestamp + body + app_master_secret)\` as the **last** query
  parameter: METHOD in capitals; \`url\` scheme, host, path and query string as sent, without
  \`sign\` (the bare path when \`sign\` is the only parameter); \`timestamp\` the X-Timestamp value;
  \`body\` the raw body (empty for GET and DELETE). A sign is good once (a replay: 401, code 2029).

Seed 003's \`X-Validation-Token: md5hex(lower(appkey) + lower(app_master_secret) + timestamp)\` is
still accepted unless the app switched it off; it does not cover the body, and every answer to it
carries \`Deprecation: true\`. This page cannot compute a sign: use the snippets in docs/partner-api.md.`;

const DESCRIPTION = `One Worker, three API surfaces, each with its own envelope:

- **technician** \`/api/mobile/technician/v2/*\` (seed 001): \`{status, message}\` for account calls,
  \`{result, message, error, data}\` for uploads and location; HTTP 200 with \`status: false\` for a refused
  call; 401 \`{"status": false, "message": "未登录"}\` without a session (cookie \`autoken\` or bearer).
- **psp** \`/psp/*\` (seed 003): \`{"ret":"SUCCESS","data":{…}}\` or
  \`{"ret":"FAIL","data":{"error_code":N,"error_msg":"…"}}\`, signed as the psp security schemes say.
- **admin** \`/api/admin/*\`: bearer \`ADMIN_TOKEN\`; errors \`{"error": code, "message": text}\`.

MQTT over WebSocket is \`GET /mqtt\` (docs/mqtt.md).`;

/** Security schemes of the three surfaces and the MQTT upgrade. */
export const registerSecurity = (app: Api) => {
  type Scheme = {
    type: "http" | "apiKey";
    scheme?: "bearer";
    bearerFormat?: string;
    in?: "header" | "query" | "cookie";
    name?: string;
    description?: string;
  };
  const scheme = (name: string, component: Scheme) =>
    app.openAPIRegistry.registerComponent("securitySchemes", name, component);
  scheme("adminBearer", {
    type: "http",
    scheme: "bearer",
    description: "`Authorization: Bearer <ADMIN_TOKEN>`",
  });
  scheme("pspAppkey", { type: "apiKey", in: "header", name: "X-Appkey", description: PSP_SIGN });
  scheme("pspTimestamp", {
    type: "apiKey",
    in: "header",
    name: "X-Timestamp",
    description: "Milliseconds since the epoch; refused when more than 10 minutes off the server clock.",
  });
  scheme("pspSign", {
    type: "apiKey",
    in: "query",
    name: "sign",
    description:
      "md5hex(METHOD + url + timestamp + body + app_master_secret), the last query parameter; good once.",
  });
  scheme("pspValidationToken", {
    type: "apiKey",
    in: "header",
    name: "X-Validation-Token",
    description: "Deprecated (seed 003): md5hex(lower(appkey) + lower(app_master_secret) + timestamp).",
  });
  scheme("technicianCookie", {
    type: "apiKey",
    in: "cookie",
    name: "autoken",
    description: "The session JWT set by login / register (HttpOnly, SameSite=Lax).",
  });
  scheme("technicianBearer", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  scheme("mqttToken", { type: "apiKey", in: "query", name: "token", description: "An MQTT or session JWT." });
  scheme("mqttBearer", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
};

let cached: unknown;
/** The OpenAPI 3.1 document of every declared route, built once per isolate. */
export const openApiDocument = (app: Api) => {
  cached ??= app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: { title: "edge-push", version: "0.1.0", description: DESCRIPTION },
    tags: [
      { name: "technician", description: "Seed 001: technician accounts, orders, uploads (CONTRACT §4)" },
      { name: "psp", description: `Seed 003: the partner push API (CONTRACT §2).\n\n${PSP_SIGN}` },
      {
        name: "admin",
        description: "Operators: apps, credentials, technicians, orders, lists, metrics (CONTRACT §1)",
      },
      { name: "platform", description: "Health, MQTT over WebSocket, uploads, this document" },
    ],
  });
  return cached;
};

/** `/docs`: Scalar's API reference, its bundle served from our own static assets (no CDN). */
export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-push API</title>
</head>
<body>
<div id="app"></div>
<script src="/docs/vendor/scalar-api-reference.js"></script>
<script>Scalar.createApiReference("#app", { url: "/openapi.json", withDefaultFonts: false });</script>
</body>
</html>
`;
