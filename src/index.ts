import { app } from "./app";
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

export default {
  fetch: app.fetch,
  queue,
} satisfies ExportedHandler<Env>;
