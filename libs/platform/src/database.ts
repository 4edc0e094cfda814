import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { counter } from './metrics.js';

export type Row = Record<string, unknown>;

/** The narrow SQL surface that repositories and the event store need, inside or outside a transaction. */
export interface Sql {
  /**
   * `prepare`: a name for the statement, so that each connection parses and plans it once and
   * then only binds and executes it (a hot statement's planning can cost more than its execution).
   * The name must belong to this text alone; see `preparedName`.
   */
  query<T extends Row = Row>(text: string, params?: readonly unknown[], prepare?: string): Promise<T[]>;
}

/** A prepared statement's name for a text: the same text, the same name; another text, another name. */
export function preparedName(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return `kl_${(h >>> 0).toString(36)}_${text.length.toString(36)}`;
}

/** The query config node-postgres needs for a statement, named when `prepare` is given. */
const queryConfig = (text: string, params: readonly unknown[], prepare: string | undefined): pg.QueryConfig => (prepare === undefined ? { text, values: params as unknown[] } : { name: prepare, text, values: params as unknown[] });

export type PoolOptions = { readonly max?: number; readonly applicationName?: string };

/**
 * Statements sent to PostgreSQL, by schema: each one is a round trip (node-postgres does not
 * pipeline), so the benchmarks divide this by requests to show what a request costs the database.
 * Counted where they are sent: the pool's queries, a transaction's BEGIN, statements and COMMIT.
 */
const statements = counter('keyledger_db_statements_total', 'SQL statements (round trips) sent to PostgreSQL', ['schema']);

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name "${schema}"`);
  return schema;
}

/**
 * A PostgreSQL connection pool bound to one service's schema (search_path is set per
 * connection), with explicit transactions. Services never share schemas.
 */
export class Database implements Sql {
  private constructor(
    readonly pool: pg.Pool,
    readonly schema: string,
    readonly url: string,
  ) {}

  static async connect(url: string, schema: string, options: PoolOptions = {}): Promise<Database> {
    assertSchemaName(schema);
    const pool = new pg.Pool({
      connectionString: url,
      max: options.max ?? 10,
      application_name: options.applicationName ?? `keyledger-${schema}`,
      options: `-c search_path=${schema},public`,
      connectionTimeoutMillis: 5_000,
    });
    pool.on('error', () => {
      // An idle client lost its connection; the pool replaces it. Callers see errors on use.
    });
    const db = new Database(pool, schema, url);
    await db.pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    return db;
  }

  /** Counts `n` statements sent outside `query`/`transaction` (e.g. a prepared statement on the pool). */
  counted(n = 1): void {
    statements.inc({ schema: this.schema }, n);
  }

  async query<T extends Row = Row>(text: string, params: readonly unknown[] = [], prepare?: string): Promise<T[]> {
    statements.inc({ schema: this.schema });
    const res = await this.pool.query<T>(queryConfig(text, params, prepare));
    return res.rows;
  }

  /**
   * A pooled connection held outside the pool's care (a transaction, a session lock). While it
   * is checked out the pool does not listen to it, so a connection lost meanwhile (PostgreSQL
   * restarted or the backend terminated: 57P01) would be an unhandled 'error' event that ends
   * the process. Here it is caught, remembered, and the connection is discarded on release;
   * the holder sees the failure on its next query.
   */
  async checkout(): Promise<{ client: pg.PoolClient; release: (broken?: boolean) => void; lost: () => Error | undefined }> {
    const client = await this.pool.connect();
    let lost: Error | undefined;
    const onError = (err: Error): void => {
      lost = err;
    };
    client.on('error', onError);
    return {
      client,
      lost: () => lost,
      release: (broken = false) => {
        client.off('error', onError);
        client.release(broken || lost !== undefined ? (lost ?? true) : undefined);
      },
    };
  }

  /** Runs fn in one transaction; commits on success, rolls back on any error. */
  async transaction<T>(fn: (tx: Sql) => Promise<T>, isolation: 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE' = 'READ COMMITTED'): Promise<T> {
    const { client, release } = await this.checkout();
    let broken = false;
    try {
      statements.inc({ schema: this.schema });
      await client.query(`BEGIN ISOLATION LEVEL ${isolation}`);
      const tx: Sql = {
        query: async <R extends Row = Row>(text: string, params: readonly unknown[] = [], prepare?: string) => {
          statements.inc({ schema: this.schema });
          return (await client.query<R>(queryConfig(text, params, prepare))).rows;
        },
      };
      const result = await fn(tx);
      statements.inc({ schema: this.schema });
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw err;
    } finally {
      release(broken);
    }
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /**
   * Applies `NNN-name.sql` files from a folder in order, once each, recorded in
   * `<schema>.schema_migrations`. A migration and its record commit together.
   * An advisory lock keeps two instances from migrating at once.
   */
  async migrate(dir: string): Promise<string[]> {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
    const applied: string[] = [];
    await this.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`migrate:${this.schema}`]);
      await tx.query(`CREATE TABLE IF NOT EXISTS ${this.schema}.schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set((await tx.query<{ name: string }>(`SELECT name FROM ${this.schema}.schema_migrations`)).map((r) => r.name));
      for (const file of files) {
        if (done.has(file)) continue;
        const sql = (await readFile(join(dir, file), 'utf8')).replaceAll('${schema}', this.schema);
        await tx.query(sql);
        await tx.query(`INSERT INTO ${this.schema}.schema_migrations (name) VALUES ($1)`, [file]);
        applied.push(file);
      }
    });
    return applied;
  }
}
