import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      /** Base URL of the stand-in server started by test/global-setup.ts. */
      STAND_IN_URL: string;
      /** "1": hub RPC methods can be armed to fail (src/hubs/faults.ts). */
      TEST_HOOKS: string;
    }
  }
}
