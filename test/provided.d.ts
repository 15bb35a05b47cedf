// What test/global-setup.ts provides to the test projects (vitest `provide` / `inject`).
export {};

declare module "vitest" {
  interface ProvidedContext {
    /** Base URL of the stand-in server for outside providers (SMS webhook, later APNs, Getui, FCM). */
    standInUrl: string;
  }
}

declare module "vitest" {
  interface ProvidedContext {
    /** Base URL of the `wrangler dev` the e2e project starts. */
    e2eBase: string;
    e2eAdminToken: string;
    /** File that receives wrangler dev's output (the Worker's console, SMS codes among it). */
    e2eLog: string;
    /** Empty when Debian's Chromium is ready; else why scripts/ensure-chromium.sh failed. */
    e2eChromiumError: string;
  }
}
