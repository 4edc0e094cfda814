import { subscribeNotifications, type ChannelSubscription } from '#libs/platform';
import type { Logger } from 'pino';
import { KEY_CHANGES_CHANNEL } from './keys.repository.js';

/**
 * LISTENs for key changes committed by any instance (the read model's `pg_notify`), over the
 * process's shared LISTEN connection, so cached key state is dropped as soon as another
 * instance disables, updates or destroys a key. While the connection is down, `connected` is
 * false and callers must not trust a cache; on reconnect `onReset` runs (notifications may
 * have been missed).
 */
export class KeyChangeListener {
  private subscription: ChannelSubscription | undefined;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    private readonly onChange: (streamId: string) => void,
    private readonly onReset: () => void,
  ) {}

  get connected(): boolean {
    return this.subscription?.listening === true;
  }

  async start(): Promise<void> {
    if (this.subscription) return;
    this.subscription = subscribeNotifications(
      this.url,
      KEY_CHANGES_CHANNEL,
      {
        notification: (payload) => {
          if (payload) this.onChange(payload);
        },
        listening: () => this.onReset(),
        lost: () => this.onReset(),
      },
      { logger: this.logger },
    );
    await this.subscription.ready;
  }

  async stop(): Promise<void> {
    const s = this.subscription;
    this.subscription = undefined;
    await s?.close();
  }
}
