import { randomBytes, randomUUID } from 'node:crypto';

/** A tenant id no other spec uses: each spec works in its own tenant so specs never collide. */
export function uniqueTenant(): string {
  return `tenant-${randomUUID()}`;
}

/**
 * `prefix_<10 hex>`: lower-case letters, digits and underscores only, so it is valid as a
 * PostgreSQL schema name, a Kafka topic, a consumer group and an Elasticsearch index name.
 */
export function uniqueName(prefix: string): string {
  const p = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (!/^[a-z_]/.test(p)) throw new Error(`name prefix "${prefix}" must start with a letter or underscore`);
  const name = `${p}_${randomBytes(5).toString('hex')}`;
  if (name.length > 63) throw new Error(`name prefix "${prefix}" is too long`);
  return name;
}
