import pg from 'pg';
import type { Logger } from 'pino';

/** What a subscriber to a notification channel is told. */
export type NotificationHandlers = {
  /** A notification on the channel (its payload, '' when it had none). */
  readonly notification: (payload: string) => void;
  /**
   * The channel is listened to: the first time, and again after a lost connection came back
   * (notifications committed meanwhile were missed: treat everything as changed).
   */
  readonly listening?: () => void;
  /** The connection is gone: nothing arrives until `listening` is called again. */
  readonly lost?: () => void;
};

export type SubscribeOptions = {
  /** Logs the shared connection's loss (the first subscriber's logger is the connection's). */
  readonly logger?: Logger;
  /** Reconnects this often while the connection is down (the first subscriber's value, default 1 s). */
  readonly retryMs?: number;
};

export interface ChannelSubscription {
  /** The channel is listened to now. */
  readonly listening: boolean;
  /** Settles once the first attempt to listen is over, whether it succeeded or not. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** LISTEN takes an identifier; channels are ours (`<schema>_outbox`, ...), never input. */
const CHANNEL = /^[a-z_][a-z0-9_]*$/;

/**
 * One LISTEN connection per database URL in a process, shared by every channel subscribed to
 * in it (the outbox relay's wake-ups, the vault's secret changes, crypto's key changes).
 * PostgreSQL signals every listening backend of a database on each commit that notifies,
 * whatever the channels (each wakes, reads the queue and finds nothing of its own): a second
 * listening connection per process is CPU spent by the database on every write.
 */
class NotificationHub {
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private readonly subs = new Map<string, Set<Subscription>>();
  /** Channels LISTENed to on the current connection. */
  private readonly listened = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private up = false;
  /** This outage was logged (once per outage). */
  private downLogged = false;

  constructor(
    private readonly url: string,
    private readonly logger: Logger | undefined,
    private readonly retryMs: number,
    private readonly onEmpty: () => void,
  ) {}

  add(sub: Subscription): void {
    const set = this.subs.get(sub.channel) ?? new Set<Subscription>();
    set.add(sub);
    this.subs.set(sub.channel, set);
    if (this.up && this.listened.has(sub.channel)) {
      sub.setListening(true);
      sub.settle();
      return;
    }
    void this.sync();
  }

  async remove(sub: Subscription): Promise<void> {
    const set = this.subs.get(sub.channel);
    set?.delete(sub);
    if (set && set.size === 0) this.subs.delete(sub.channel);
    if (this.subs.size === 0) {
      this.onEmpty();
      await this.close();
      return;
    }
    if (!this.subs.has(sub.channel) && this.listened.has(sub.channel) && this.client) {
      this.listened.delete(sub.channel);
      await this.client.query(`UNLISTEN ${sub.channel}`).catch(() => undefined);
    }
  }

  /** Connects when needed and LISTENs to every subscribed channel not yet listened to. */
  private async sync(): Promise<void> {
    if (this.connecting) return this.connecting;
    this.connecting = this.connectAndListen().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectAndListen(): Promise<void> {
    try {
      if (!this.client) {
        const client = new pg.Client({ connectionString: this.url, application_name: 'keyledger-listen' });
        client.on('notification', (n) => this.dispatch(n.channel, n.payload ?? ''));
        client.on('error', (err) => this.lose(client, err));
        client.on('end', () => this.lose(client, new Error('connection ended')));
        this.client = client;
        await client.connect();
      }
      // Channels subscribed while a LISTEN was in flight are taken by the next turn of the loop.
      for (;;) {
        const client: pg.Client | undefined = this.client;
        if (!client) return;
        const todo = [...this.subs.keys()].filter((c) => !this.listened.has(c));
        if (todo.length === 0) break;
        await client.query(todo.map((c) => `LISTEN ${c}`).join('; '));
        if (this.client !== client) return;
        for (const c of todo) this.listened.add(c);
      }
      this.up = true;
      this.downLogged = false;
      for (const set of this.subs.values()) for (const s of set) if (!s.listening) s.setListening(true);
    } catch (err) {
      if (this.client) this.lose(this.client, err);
    } finally {
      for (const set of this.subs.values()) for (const s of set) s.settle();
    }
  }

  private dispatch(channel: string, payload: string): void {
    const set = this.subs.get(channel);
    if (!set) return;
    for (const s of set) {
      try {
        s.handlers.notification(payload);
      } catch (err) {
        this.logger?.error({ err: err instanceof Error ? err.message : String(err), channel }, 'a notification handler failed');
      }
    }
  }

  private lose(client: pg.Client, err: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.up = false;
    this.listened.clear();
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    for (const set of this.subs.values()) for (const s of set) if (s.listening) s.setListening(false);
    if (this.subs.size === 0) return;
    if (!this.downLogged) this.logger?.warn({ err: err instanceof Error ? err.message : String(err), retryMs: this.retryMs }, 'no notification connection (caches off, relays polling); trying again');
    this.downLogged = true;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.subs.size > 0) void this.sync();
      }, this.retryMs);
      this.timer.unref();
    }
  }

  private async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.connecting;
    const client = this.client;
    this.client = undefined;
    this.up = false;
    this.listened.clear();
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}

class Subscription implements ChannelSubscription {
  listening = false;
  readonly ready: Promise<void>;
  private resolveReady: (() => void) | undefined;
  private closed = false;

  constructor(
    readonly channel: string,
    readonly handlers: NotificationHandlers,
    private readonly hub: NotificationHub,
  ) {
    this.ready = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
  }

  setListening(listening: boolean): void {
    if (this.closed) return;
    this.listening = listening;
    if (listening) this.handlers.listening?.();
    else this.handlers.lost?.();
  }

  settle(): void {
    this.resolveReady?.();
    this.resolveReady = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listening = false;
    this.settle();
    await this.hub.remove(this);
  }
}

const hubs = new Map<string, NotificationHub>();

/**
 * Subscribes to a PostgreSQL notification channel over the process's one LISTEN connection to
 * `url` (opened by the first subscriber, closed with the last; reconnected while subscribers
 * remain). `handlers.listening`/`lost` follow the connection: while it is down nothing is
 * delivered, so a subscriber that caches must stop trusting its cache.
 */
export function subscribeNotifications(url: string, channel: string, handlers: NotificationHandlers, options: SubscribeOptions = {}): ChannelSubscription {
  if (!CHANNEL.test(channel)) throw new Error(`invalid notification channel "${channel}"`);
  const hub = hubs.get(url) ?? openHub(url, options);
  const sub = new Subscription(channel, handlers, hub);
  hub.add(sub);
  return sub;
}

/** A hub for `url`, known to later subscribers until its last subscriber leaves. */
function openHub(url: string, options: SubscribeOptions): NotificationHub {
  const hub: NotificationHub = new NotificationHub(url, options.logger, options.retryMs ?? 1_000, () => {
    if (hubs.get(url) === hub) hubs.delete(url);
  });
  hubs.set(url, hub);
  return hub;
}
