import { app } from "./app";
import { countFetch, countQueue } from "./lib/ops";
import { dispatch } from "./push/dispatch";
import { deliverWebhooks } from "./push/webhooks";

export { AppRegistry } from "./hubs/app-registry";
export { GroupHub } from "./hubs/group-hub";
export { GroupRelay } from "./hubs/group-relay";
export { Metrics } from "./hubs/metrics";
export { ReplayGuard } from "./hubs/replay-guard";
export { TaskHub } from "./hubs/task-hub";
export { TaskWatchdog } from "./hubs/task-watchdog";
export { UserHub } from "./hubs/user-hub";

/** Push delivery (edge-push-delivery and its DLQ) and webhooks (edge-push-webhooks and its DLQ). */
function queue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  return batch.queue.startsWith("edge-push-webhooks") ? deliverWebhooks(batch, env) : dispatch(batch, env);
}

// With COUNT_OPS = "1" both entry points count what they do (src/lib/ops.ts, docs/cost.md).
export default {
  fetch: (request: Request, env: Env, ctx: ExecutionContext) =>
    countFetch(env, request, () => app.fetch(request, env, ctx)),
  queue: (batch, env) => countQueue(env, batch, () => queue(batch, env)),
} satisfies ExportedHandler<Env>;
