/**
 * An inbox consumer in its own process, for crash tests:
 * `node dist/libs/testing/src/inbox-consumer.child.js <schema> <topic> <group> [maxGroup]`.
 * Its handler adds each message's `amount` to `<schema>.balance` and records the event id in
 * `<schema>.effects` (a deliberately non-idempotent effect: a message handled twice shows).
 * Prints "ready" once it has joined its group; SIGKILL it to crash it mid-burst.
 */
import { InboxConsumer } from '#libs/messaging';
import { Database } from '#libs/platform';
import { stackEnv, testKafka, testLogger } from './stack.connections.js';

const [schema, topic, group, maxGroup] = process.argv.slice(2);
if (!schema || !topic || !group) {
  process.stderr.write('usage: inbox-consumer.child.js <schema> <topic> <group> [maxGroup]\n');
  process.exit(2);
}
const db = await Database.connect(stackEnv().databaseUrl, schema, { max: 4, applicationName: `keyledger-inbox-child-${process.pid}` });
const consumer = new InboxConsumer({
  kafka: testKafka(`inbox-child-${process.pid}`),
  db,
  topic,
  group,
  logger: testLogger('inbox-child'),
  sessionTimeoutMs: 6_000,
  ensureDeadLetterTopic: false,
  ...(maxGroup ? { maxGroup: Number(maxGroup) } : {}),
  handler: async (env, tx) => {
    const { account, amount } = env.data as { account: string; amount: number };
    await tx.query(`INSERT INTO ${schema}.balance (account, amount) VALUES ($1, $2) ON CONFLICT (account) DO UPDATE SET amount = balance.amount + EXCLUDED.amount`, [account, amount]);
    await tx.query(`INSERT INTO ${schema}.effects (event_id) VALUES ($1)`, [env.id]);
  },
});
await consumer.start();
await consumer.ready();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void consumer
    .stop()
    .then(() => db.close())
    .finally(() => process.exit(0));
});
