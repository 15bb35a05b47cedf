import { app } from "./app";
import { dispatch } from "./push/dispatch";

export { GroupHub } from "./hubs/group-hub";
export { TaskHub } from "./hubs/task-hub";
export { UserHub } from "./hubs/user-hub";

export default {
  fetch: app.fetch,
  queue: dispatch,
} satisfies ExportedHandler<Env>;
