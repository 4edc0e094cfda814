import type { KeysRepository, KeyVersionRecord } from '../adapters/persistence/keys.repository.js';
import { BoundedCache } from './bounded-cache.js';

const prefixOf = (tenant: string, vault: string, name: string): string => `${tenant}\u0000${vault}\u0000${name}\u0000`;

/**
 * Key versions by (tenant, vault, name, version | '' = latest), read from the read model and
 * cached while a change feed is connected. Every committed change to a key (here or on
 * another instance, via LISTEN) drops that key's entries; a generation counter keeps a read
 * that raced with a change from re-filling the cache with the old row. Without a change
 * feed every lookup reads the database.
 */
export class KeyDirectory {
  private readonly cache = new BoundedCache<string, KeyVersionRecord>(50_000, 600_000);
  private generation = 0;

  constructor(
    private readonly repo: KeysRepository,
    private readonly feedConnected: () => boolean,
  ) {}

  async find(tenant: string, vault: string, name: string, version: string): Promise<KeyVersionRecord | null> {
    const key = `${prefixOf(tenant, vault, name)}${version}`;
    const useCache = this.feedConnected();
    if (useCache) {
      const hit = this.cache.get(key);
      if (hit) return hit;
    }
    const generation = this.generation;
    const record = await this.repo.findVersion(tenant, vault, name, version);
    if (record && useCache && generation === this.generation && this.feedConnected()) this.cache.set(key, record);
    return record;
  }

  /** A key changed (committed): forget all its versions. */
  invalidate(tenant: string, vault: string, name: string): void {
    this.generation++;
    const prefix = prefixOf(tenant, vault, name);
    this.cache.deleteWhere((k) => k.startsWith(prefix));
  }

  /** Changes may have been missed: forget everything. */
  reset(): void {
    this.generation++;
    this.cache.clear();
  }

  close(): void {
    this.cache.close();
  }
}
