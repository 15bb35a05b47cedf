import { defineConfig } from "drizzle-kit";

// One migrations folder: drizzle-kit writes it, wrangler (migrations_dir) and the tests apply it.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});
