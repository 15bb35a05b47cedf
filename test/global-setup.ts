import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";
import { createApnsStandIn } from "./stand-ins/apns";
import { createFaults } from "./stand-ins/faults";
import { createFcmStandIn } from "./stand-ins/fcm";
import { createGetuiStandIn } from "./stand-ins/getui";
import { createSmsStandIn } from "./stand-ins/sms";
import { createWebhookStandIn } from "./stand-ins/webhooks";

/** Starts the stand-ins for outside providers on loopback and hands their URL to the Worker tests. */
export default async function setup(project: TestProject) {
  const standIns = [
    createSmsStandIn(),
    createApnsStandIn(),
    createGetuiStandIn(),
    createFcmStandIn(),
    createWebhookStandIn(),
  ];
  const faults = createFaults();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const body = Buffer.concat(chunks).toString("utf8");
      try {
        if (faults.control(req, res, url, body) || faults.intercept(req, res, url, body)) return;
        for (const standIn of standIns) if (await standIn(req, res, url, body)) return;
        res.writeHead(404).end();
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  project.provide("standInUrl", `http://127.0.0.1:${port}`);
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}
