import type { Logger } from 'pino';
import { subscribeNotifications, type ChannelSubscription, type Database, type Sql } from '#libs/platform';

/** The cache key of a secret: its vault's id and its lower-cased name (also the notification payload). */
export const secretCacheKey = (vaultId: string, nameKey: string): string => `${vaultId}/${nameKey}`;

/** What the listener keeps current (the vault's SecretVersionCache and SecretStateCache). */
export type InvalidatedCache = {
  /** `version`: the secret's stream version the change committed, when the notification says. */
  invalidate(key: string, version?: number): void;
  invalidateAll(): void;
  setListening(listening: boolean): void;
};

/** Several caches kept current by one listener. */
export function allOf(caches: readonly InvalidatedCache[]): InvalidatedCache {
  return {
    invalidate: (key, version) => caches.forEach((c) => c.invalidate(key, version)),
    invalidateAll: () => caches.forEach((c) => c.invalidateAll()),
    setListening: (listening) => caches.forEach((c) => c.setListening(listening)),
  };
}

/**
 * The notification channel of secret changes in a schema; the payload is
 * `{vaultId}/{nameKey}@{streamVersion}` (the version the change committed), or `*` for all.
 */
export const secretChangeChannel = (schema: string): string => `${schema}_secrets`;

/** A change notification's payload: the secret's cache key and the stream version its change committed. */
export const secretChangePayload = (key: string, streamVersion: number): string => `${key}@${streamVersion}`;

/** The key and (when present) the version of a notification's payload; `*` or empty: everything. */
export function parseSecretChange(payload: string): { key: string; version?: number } | '*' {
  if (payload === '*' || payload === '') return '*';
  const at = payload.lastIndexOf('@');
  const version = at > 0 ? Number(payload.slice(at + 1)) : NaN;
  // Names are [0-9a-z-]: an '@' only ever separates the version (a payload without one, from an earlier release, has none).
  return Number.isSafeInteger(version) && version > 0 ? { key: payload.slice(0, at), version } : { key: payload };
}

/** Announces, inside a change's transaction, that a secret changed (delivered when it commits, to every vault process). */
export async function notifySecretChanged(tx: Sql, schema: string, payload: string): Promise<void> {
  await tx.query('SELECT pg_notify($1, $2)', [secretChangeChannel(schema), payload]);
}

/**
 * Keeps the secret cache of this process current with changes committed by other vault
 * processes: subscribed to the schema's secrets channel over the process's shared LISTEN
 * connection, each notification drops one entry. While the connection is down the cache is
 * off (it neither serves nor stores) and the connection is retried every `retryMs`.
 */
export class SecretChangeListener {
  private subscription: ChannelSubscription | undefined;

  constructor(
    private readonly db: Database,
    private readonly cache: InvalidatedCache,
    private readonly logger: Logger,
    private readonly retryMs = 1_000,
  ) {
    cache.setListening(false);
  }

  async start(): Promise<void> {
    if (this.subscription) return;
    this.subscription = subscribeNotifications(
      this.db.url,
      secretChangeChannel(this.db.schema),
      {
        notification: (payload) => {
          const change = parseSecretChange(payload || '*');
          if (change === '*') this.cache.invalidateAll();
          else this.cache.invalidate(change.key, change.version);
        },
        listening: () => this.cache.setListening(true),
        lost: () => this.cache.setListening(false),
      },
      { logger: this.logger, retryMs: this.retryMs },
    );
    await this.subscription.ready;
  }

  async stop(): Promise<void> {
    const s = this.subscription;
    this.subscription = undefined;
    this.cache.setListening(false);
    await s?.close();
  }
}
