/**
 * Test-only fault injection for the hubs' RPC methods. Off unless the Worker runs with
 * `TEST_HOOKS = "1"` (set only by vitest.config.ts): the worker tests arm a method to throw the
 * next N times, so they can show what a failed hub call does upstream (retried through the
 * queue, then recorded as failed) without mocking our own modules. Off, `arm` refuses and
 * `check` does nothing.
 */
export class Faults {
  private readonly enabled: boolean;

  constructor(
    private readonly sql: SqlStorage,
    env: unknown,
  ) {
    this.enabled = (env as { TEST_HOOKS?: string }).TEST_HOOKS === "1";
    if (this.enabled)
      sql.exec(
        "CREATE TABLE IF NOT EXISTS faults (method TEXT PRIMARY KEY, times INTEGER NOT NULL, skip INTEGER NOT NULL DEFAULT 0)",
      );
  }

  /** Makes `method` throw its next `times` calls, after letting `skip` calls pass (0 disarms it). */
  arm(method: string, times: number, skip = 0): void {
    if (!this.enabled) throw new Error("fault injection is off (TEST_HOOKS is not set)");
    this.sql.exec(
      `INSERT INTO faults (method, times, skip) VALUES (?, ?, ?)
       ON CONFLICT (method) DO UPDATE SET times = excluded.times, skip = excluded.skip`,
      method,
      times,
      skip,
    );
  }

  /** Calls left to fail for `method`. */
  left(method: string): number {
    if (!this.enabled) return 0;
    return (
      this.sql.exec<{ times: number }>("SELECT times FROM faults WHERE method = ?", method).toArray()[0]
        ?.times ?? 0
    );
  }

  /** Throws when `method` is armed, counting the call down. */
  check(method: string): void {
    if (!this.enabled || this.left(method) <= 0) return;
    const skip = this.sql
      .exec<{ skip: number }>("SELECT skip FROM faults WHERE method = ?", method)
      .one().skip;
    if (skip > 0) {
      this.sql.exec("UPDATE faults SET skip = skip - 1 WHERE method = ?", method);
      return;
    }
    this.sql.exec("UPDATE faults SET times = times - 1 WHERE method = ?", method);
    throw new Error(`injected fault in ${method}`);
  }
}
