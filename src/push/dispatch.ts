/**
 * Queue consumer for push delivery. Every message is acked or retried on its own; nothing is
 * thrown out of a batch. Delivery jobs (APNs, Getui, FCM, MQTT) land with the push issue: until
 * then no producer sends to the queue, and anything that arrives is recorded and acked.
 */
export const dispatch = async (batch: MessageBatch<unknown>): Promise<void> => {
  for (const message of batch.messages) {
    try {
      console.error(`queue ${batch.queue}: no handler for message ${message.id}; dropped`);
      message.ack();
    } catch (err) {
      console.error(`queue ${batch.queue}: message ${message.id}: ${String(err)}`);
      message.retry({ delaySeconds: 30 });
    }
  }
};
