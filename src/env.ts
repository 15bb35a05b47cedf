import type { Db } from "./db/client";
import type { AppRow, TechnicianRow } from "./db/schema";

/** Hono environment shared by every surface. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    db: Db;
    /** The calling app, set by the psp authentication middleware. */
    app: AppRow;
    /** The logged-in technician and their session id, set by the technician auth middleware. */
    technician: TechnicianRow;
    sessionId: string;
    /** Hono's requestId: the X-Request-Id of the answer and of every log line of the request. */
    requestId: string;
  };
};
