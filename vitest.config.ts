import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

const root = import.meta.dirname;

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(root, "migrations"));
  return {
    test: {
      // Console output (the Worker's request lines, wrangler's) is printed for failing tests only.
      silent: "passed-only" as const,
      // Two test files at a time (vitest's default on 2 cores is one): most tests wait on timers,
      // sockets and the runtime, not the CPU. The e2e files share one `wrangler dev`; nothing
      // they run may rewrite what it watches (scripts/copy-if-changed.mjs).
      maxWorkers: 2,
      projects: [
        {
          test: {
            name: "unit",
            include: ["test/unit/**/*.test.ts"],
            environment: "node",
            benchmark: { include: ["bench/**/*.bench.ts"] },
          },
        },
        {
          test: {
            name: "e2e",
            include: ["test/e2e/**/*.test.ts"],
            environment: "node",
            globalSetup: ["./test/e2e/global-setup.ts"],
            testTimeout: 20_000,
            hookTimeout: 120_000,
          },
        },
        {
          plugins: [
            cloudflareTest(({ inject }) => ({
              main: "./src/index.ts",
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  ADMIN_TOKEN: "test-admin-token",
                  JWT_SECRET: "test-jwt-secret-0123456789abcdef",
                  CREDENTIALS_KEY: "test-credentials-key-0123456789",
                  SMS_WEBHOOK_URL: `${inject("standInUrl")}/sms`,
                  STAND_IN_URL: inject("standInUrl"),
                  PUSH_RETRY_BASE_S: "0",
                  // Short, so that a hung stand-in (test/stand-ins/faults.ts) times out within a test.
                  PROVIDER_TIMEOUT_MS: "2000",
                  // Lets tests arm hub RPC methods to fail (src/hubs/faults.ts); never set elsewhere.
                  TEST_HOOKS: "1",
                  // Groups of more than 3 subscribers fan out through GroupRelays (5,000 elsewhere).
                  GROUP_RELAY_ABOVE: "3",
                  APNS_ENDPOINT: `${inject("standInUrl")}/apns`,
                  GETUI_ENDPOINT: `${inject("standInUrl")}/getui`,
                  FCM_ENDPOINT: `${inject("standInUrl")}/fcm`,
                  FCM_TOKEN_ENDPOINT: `${inject("standInUrl")}/fcm-token`,
                },
              },
            })),
          ],
          test: {
            name: "worker",
            include: ["test/worker/**/*.test.ts"],
            globalSetup: ["./test/global-setup.ts"],
            setupFiles: ["./test/apply-migrations.ts"],
          },
        },
      ],
    },
  };
});
