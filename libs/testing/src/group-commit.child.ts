/**
 * Appenders in their own process, for the group-commit crash test:
 * `node dist/libs/testing/src/group-commit.child.js <schema> <writers>`. Each writer appends
 * one `Noted` event at a time to its own stream (`w<i>`) with the exact expected version and
 * prints `ack <stream> <version>` once the append resolved (committed). SIGKILL it mid-run.
 */
import { EventStore } from '#libs/eventstore';
import { EventRegistry, v } from '#libs/kernel';
import { Database } from '#libs/platform';
import { stackEnv } from './stack.connections.js';

const [schema, writersArg] = process.argv.slice(2);
if (!schema) {
  process.stderr.write('usage: group-commit.child.js <schema> [writers]\n');
  process.exit(2);
}
const writers = Number(writersArg ?? 32);
const registry = new EventRegistry().define({ type: 'Noted', schemaVersion: 1, validate: v.object({ n: v.int }) });
const db = await Database.connect(stackEnv().databaseUrl, schema, { max: 4, applicationName: `keyledger-group-commit-child-${process.pid}` });
const store = new EventStore(db, registry, 'test', `keyledger.${schema}.events.v1`);
process.stdout.write('ready\n');
await Promise.all(
  Array.from({ length: writers }, async (_, w) => {
    const stream = `w${w}`;
    for (let version = 1; ; version++) {
      await store.appendToStream(stream, version === 1 ? 'no_stream' : version - 1, [{ type: 'Noted', data: { n: version } }], {
        metadata: { actor: 'spec', tenant: 'spec-tenant' },
        audit: [],
      });
      process.stdout.write(`ack ${stream} ${version}\n`);
    }
  }),
);
