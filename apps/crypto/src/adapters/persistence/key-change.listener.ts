import pg from 'pg';
import type { Logger } from 'pino';
import { KEY_CHANGES_CHANNEL } from './keys.repository.js';

/**
 * LISTENs for key changes committed by any instance (the read model's `pg_notify`), so
 * cached key state is dropped as soon as another instance disables, updates or destroys a
 * key. While the connection is down, `connected` is false and callers must not trust a
 * cache; on reconnect `onReset` runs (notifications may have been missed).
 */
export class KeyChangeListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private up = false;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    private readonly onChange: (streamId: string) => void,
    private readonly onReset: () => void,
  ) {}

  get connected(): boolean {
    return this.up;
  }

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.url, application_name: 'keyledger-crypto-listen' });
    client.on('notification', (msg) => {
      if (msg.channel === KEY_CHANGES_CHANNEL && msg.payload) this.onChange(msg.payload);
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${KEY_CHANGES_CHANNEL}`);
      this.client = client;
      this.up = true;
      this.onReset();
    } catch (err) {
      this.lost(client, err);
    }
  }

  private lost(client: pg.Client, err: unknown): void {
    if (this.client !== null && this.client !== client) return;
    const wasUp = this.up;
    this.up = false;
    this.client = null;
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    this.onReset();
    if (this.stopped) return;
    if (wasUp) this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'key change listener lost its connection; reconnecting');
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.connect();
      }, 1_000);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.up = false;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}
