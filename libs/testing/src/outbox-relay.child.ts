/**
 * A relay in its own process, for crash tests: `node dist/libs/testing/src/outbox-relay.child.js <schema> [batchSize]`.
 * Prints "ready" once started; SIGKILL it to crash it mid-batch.
 */
import { OutboxRelay } from '#libs/eventstore';
import { Database } from '#libs/platform';
import { stackEnv, testKafka, testLogger } from './stack.connections.js';

const [schema, batch] = process.argv.slice(2);
if (!schema) {
  process.stderr.write('usage: outbox-relay.child.js <schema> [batchSize]\n');
  process.exit(2);
}
const db = await Database.connect(stackEnv().databaseUrl, schema, { max: 4, applicationName: `keyledger-relay-child-${process.pid}` });
const relay = new OutboxRelay(db, testKafka(`relay-child-${process.pid}`), testLogger('relay-child'), { batchSize: Number(batch ?? 100), pollIntervalMs: 100 });
await relay.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void relay
    .stop()
    .then(() => db.close())
    .finally(() => process.exit(0));
});
