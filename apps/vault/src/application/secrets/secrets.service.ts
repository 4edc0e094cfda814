import { randomBytes } from 'node:crypto';
import { encodeObjectIdentity, openWithContext, seal, type ObjectIdentity } from '#libs/crypto-core';
import { DomainError } from '#libs/kernel';
import { ConcurrencyError, handleCommand, RETRY_HOT_STREAMS, type EventStore, type ExpectedVersion } from '#libs/eventstore';
import type { SecretsRepository, SecretItemRow, SecretVersionRow } from '../../adapters/persistence/secrets.repository.js';
import type { VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { assertCanSet, secretDecider, type SecretCommand, type SecretState } from '../../domain/secret/secret.decider.js';
import { secretStreamId, type DataKeyHandle, type SecretEvent, type SecretPurgeReason, type SecretVersionRecord } from '../../domain/secret/secret.events.js';
import { nameKey as keyOf, type SetSecretInput, type Tags, type UpdateSecretInput } from '../../domain/secret/secret.rules.js';
import { secretNotFound, VaultErrorCode } from '../../domain/vault.errors.js';
import { callContextOf, type Caller } from '../access/caller.js';
import type { DataKeyCache } from '../keyring/data-key.cache.js';
import { secretCacheKey, type SecretVersionCache } from './secret-version.cache.js';
import type { CachedSecretState, SecretStateCache } from './secret-state.cache.js';
import { KeyringErrorCode, type ObjectRef, type SecretKeyring } from '../keyring/secret-keyring.js';
import { decodeSkipToken, toPage, type Page } from './paging.js';

/** A secret version as the service answers it; `value` only where Azure returns one. */
export type SecretView = {
  readonly name: string;
  readonly version: string;
  readonly value?: string;
  readonly contentType: string | null;
  readonly tags: Tags | null;
  readonly enabled: boolean;
  readonly nbf: number | null;
  readonly exp: number | null;
  readonly created: number;
  readonly updated: number;
  readonly managed: boolean;
  readonly deletedDate?: number;
  readonly scheduledPurgeDate?: number;
};

export type BatchItem = { readonly name: string; readonly secret?: SecretView; readonly error?: DomainError };

const BACKUP_MAGIC = Buffer.from('KeyledgerSecretBackupV1.', 'ascii');
const BACKUP_PURPOSE = 'keyledger/secret-backup/v1';
/** Optimistic concurrency: a writer that lost the race decides again on fresh state, after a short random pause. */
/** A secret's stream is hot when many clients set it at once: decided again after a conflict, up to 25 times. */
const RETRY = RETRY_HOT_STREAMS;

type BackupPayload = {
  readonly kind: 'keyledger.secret.backup';
  readonly v: 1;
  readonly name: string;
  readonly managed: boolean;
  readonly versions: readonly {
    readonly version: string;
    readonly value: string;
    readonly contentType: string | null;
    readonly tags: Tags | null;
    readonly enabled: boolean;
    readonly nbf: number | null;
    readonly exp: number | null;
    readonly created: number;
    readonly updated: number;
  }[];
};

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const newVersionId = (): string => randomBytes(16).toString('hex');

function view(row: SecretItemRow, value?: string): SecretView {
  return {
    name: row.name,
    version: row.version,
    ...(value !== undefined ? { value } : {}),
    contentType: row.contentType,
    tags: row.tags,
    enabled: row.enabled,
    nbf: row.nbf,
    exp: row.exp,
    created: row.created,
    updated: row.updated,
    managed: row.managed,
    ...(row.status === 'deleted' && row.deletedDate !== null ? { deletedDate: row.deletedDate } : {}),
    ...(row.status === 'deleted' && row.scheduledPurgeDate !== null ? { scheduledPurgeDate: row.scheduledPurgeDate } : {}),
  };
}

const malformedBackup = (): DomainError => new DomainError(VaultErrorCode.MalformedBackup, 'Backup blob contains invalid or corrupt version.');

/**
 * Secrets: load (from the read model) → decide (pure decider) → append with the expected
 * stream version, the read model update and the request's audit record in one transaction.
 * Values are sealed with the secret's data key (from the crypto service, cached in memory)
 * and bound to the object's identity; only ciphertext reaches the event store.
 */
export class SecretsService {
  /** `contextOf`'s memo, per row object (gone with the row). */
  private readonly contexts = new WeakMap<SecretVersionRow, { readonly tenant: string; readonly vault: string; readonly context: Buffer }>();

  constructor(
    private readonly store: EventStore,
    private readonly repo: SecretsRepository,
    private readonly keyring: SecretKeyring,
    private readonly keys: DataKeyCache,
    /** Current versions of recently read secrets (ciphertext), dropped on every change; absent: every read goes to PostgreSQL. */
    private readonly current?: SecretVersionCache,
    /** Decider state of the secrets this process set last; absent: every SET reads its state from PostgreSQL. */
    private readonly states?: SecretStateCache,
  ) {}

  // ---------- reads ----------

  async get(vault: VaultRecord, name: string, version: string | null, caller: Caller): Promise<SecretView> {
    const row = version === null ? await this.currentVersion(vault.vaultId, keyOf(name)) : await this.repo.findVersion(vault.vaultId, keyOf(name), version);
    if (!row || row.status !== 'active') throw secretNotFound(version ? `${name}/${version}` : name);
    if (!row.enabled) throw new DomainError(VaultErrorCode.SecretDisabled, 'Operation get is not allowed on a disabled secret.', { name });
    return view(row, await this.reveal(vault, row, caller));
  }

  /** Keyledger extension: up to 25 latest values in one call; per-name outcome. */
  async batchGet(vault: VaultRecord, names: readonly string[], allowed: (name: string) => boolean, caller: Caller): Promise<BatchItem[]> {
    const permitted = names.filter(allowed);
    const rows = permitted.length > 0 ? await this.repo.findLatest(vault.vaultId, permitted.map(keyOf)) : [];
    const byKey = new Map(rows.map((r) => [r.nameKey, r]));
    const out: BatchItem[] = [];
    for (const name of names) {
      if (!allowed(name)) {
        out.push({ name, error: new DomainError('ForbiddenByRbac', `Caller is not authorized to get secret ${name}.`, { name }) });
        continue;
      }
      const row = byKey.get(keyOf(name));
      if (!row || row.status !== 'active') out.push({ name, error: secretNotFound(name) });
      else if (!row.enabled) out.push({ name, error: new DomainError(VaultErrorCode.SecretDisabled, 'Operation get is not allowed on a disabled secret.', { name }) });
      else out.push({ name, secret: view(row, await this.reveal(vault, row, caller)) });
    }
    return out;
  }

  async getDeleted(vault: VaultRecord, name: string): Promise<SecretView> {
    const row = await this.repo.findVersion(vault.vaultId, keyOf(name), null);
    if (!row || row.status !== 'deleted') throw new DomainError(VaultErrorCode.DeletedSecretNotFound, `Deleted Secret not found: ${name}`, { name });
    return view(row);
  }

  async list(vault: VaultRecord, skipToken: string | undefined, limit: number): Promise<Page<SecretView>> {
    const rows = await this.repo.listLatest(vault.vaultId, 'active', decodeSkipToken(skipToken), limit + 1);
    const page = toPage(rows, limit, (r) => r.nameKey);
    return { items: page.items.map((r) => view(r)), next: page.next };
  }

  async listDeleted(vault: VaultRecord, skipToken: string | undefined, limit: number): Promise<Page<SecretView>> {
    const rows = await this.repo.listLatest(vault.vaultId, 'deleted', decodeSkipToken(skipToken), limit + 1);
    const page = toPage(rows, limit, (r) => r.nameKey);
    return { items: page.items.map((r) => view(r)), next: page.next };
  }

  async listVersions(vault: VaultRecord, name: string, skipToken: string | undefined, limit: number): Promise<Page<SecretView>> {
    const rows = await this.repo.listVersions(vault.vaultId, keyOf(name), decodeSkipToken(skipToken), limit + 1);
    const page = toPage(rows, limit, (r) => r.version);
    return { items: page.items.map((r) => view(r)), next: page.next };
  }

  // ---------- writes ----------

  /** `managed`: a certificate's secret version, with the certificate's version id (the certificates service only). */
  async set(vault: VaultRecord, name: string, input: SetSecretInput, caller: Caller, successStatus = 200, managed?: { readonly version: string }): Promise<SecretView> {
    const nameKey = keyOf(name);
    const key = secretCacheKey(vault.vaultId, nameKey);
    const cached = this.states?.get(key);
    if (cached) {
      // Decided on the state this process committed last: the append still expects its stream
      // version, so a change made elsewhere meanwhile is a version conflict, never a lost update.
      // A conflict or a refusal is decided again on state read afresh.
      try {
        return await this.setOn(vault, name, nameKey, input, caller, successStatus, managed, cached, this.states!.begin());
      } catch (err) {
        if (!(err instanceof ConcurrencyError || err instanceof DomainError)) throw err;
        this.states?.invalidate(key);
      }
    }
    return handleCommand(
      () => this.repo.loadState(vault.vaultId, nameKey),
      (loaded) => this.setOn(vault, name, nameKey, input, caller, successStatus, managed, loaded, this.states?.begin() ?? 0),
      RETRY,
    );
  }

  /** Decides and appends a SET on a loaded (or cached) state; the state after it is kept for the next SET. */
  private async setOn(
    vault: VaultRecord,
    name: string,
    nameKey: string,
    input: SetSecretInput,
    caller: Caller,
    successStatus: number,
    managed: { readonly version: string } | undefined,
    { state, streamVersion }: CachedSecretState,
    token: number,
  ): Promise<SecretView> {
    assertCanSet(state, name);
    const version = managed?.version ?? newVersionId();
    const identity = this.identity(vault, nameKey, version);
    const plain = Buffer.from(input.value, 'utf8');
    let handle: DataKeyHandle;
    let ciphertext: Buffer;
    try {
      if (state.status === 'active' && state.dataKey) {
        handle = state.dataKey;
        const h = handle;
        ciphertext = await this.keys.use(h.keyId, () => this.keyring.decryptDataKey(this.ref(vault, nameKey, h.keyRef), h.keyId, callContextOf(caller)), (key) => seal(key, h.keyId, plain, identity));
      } else {
        const keyRef = version;
        const generated = await this.keyring.generateDataKey(this.ref(vault, nameKey, keyRef), callContextOf(caller));
        ciphertext = seal(generated.plaintext, generated.keyId, plain, identity);
        this.keys.put(generated.keyId, generated.plaintext);
        handle = { keyId: generated.keyId, keyRef };
      }
    } finally {
      plain.fill(0);
    }
    const command: SecretCommand = {
      type: 'SetSecret',
      data: {
        vaultId: vault.vaultId,
        name,
        version,
        now: nowSeconds(),
        managed: managed !== undefined,
        sealed: { ciphertext: ciphertext.toString('base64'), keyId: handle.keyId, keyRef: handle.keyRef },
        contentType: input.contentType,
        tags: input.tags,
        attributes: input.attributes,
      },
    };
    const events = secretDecider.decide(command, state);
    const next = await this.append(vault, nameKey, streamVersion, events, caller, successStatus);
    const created = events[0] as Extract<SecretEvent, { type: 'SecretVersionCreated' }>;
    const d = created.data;
    if (this.states) this.states.store(secretCacheKey(vault.vaultId, nameKey), token, { state: asLoaded(events.reduce(secretDecider.evolve, state)), streamVersion: next });
    return { name: d.name, version, value: input.value, contentType: d.contentType, tags: d.tags, enabled: d.enabled, nbf: d.nbf, exp: d.exp, created: d.created, updated: d.updated, managed: d.managed };
  }

  async update(vault: VaultRecord, name: string, version: string | null, patch: UpdateSecretInput, caller: Caller): Promise<SecretView> {
    const nameKey = keyOf(name);
    return handleCommand(() => this.repo.loadState(vault.vaultId, nameKey, version ? { versions: [version] } : {}), async ({ state, streamVersion }) => {
      const target = version ?? state.latest;
      if (state.status !== 'active' || target === null) throw secretNotFound(version ? `${name}/${version}` : name);
      if (state.versions[target] === undefined) throw secretNotFound(`${name}/${target}`);
      const events = secretDecider.decide({ type: 'UpdateSecret', data: { name, version: target, now: nowSeconds(), patch } }, state);
      await this.append(vault, nameKey, streamVersion, events, caller, 200);
      const after = secretDecider.evolve(state, events[0]!).versions[target]!;
      return { name: state.name ?? name, version: target, ...after, managed: state.managed };
    }, RETRY);
  }

  /** `byCertificate`: the certificate that manages the secret is being deleted (the only way a managed secret is). */
  async delete(vault: VaultRecord, name: string, caller: Caller, byCertificate = false): Promise<SecretView> {
    await this.decideAndAppend(vault, name, (now) => ({ type: 'DeleteSecret', data: { name, now, retentionDays: vault.retentionDays, ...(byCertificate ? { byCertificate } : {}) } }), caller, 200);
    return this.getDeleted(vault, name);
  }

  async recover(vault: VaultRecord, name: string, caller: Caller): Promise<SecretView> {
    await this.decideAndAppend(vault, name, (now) => ({ type: 'RecoverSecret', data: { name, now } }), caller, 200);
    const row = await this.repo.findVersion(vault.vaultId, keyOf(name), null);
    if (!row) throw secretNotFound(name);
    return view(row);
  }

  /**
   * Purge = crypto-shredding: the secret's data keys are destroyed in the crypto service,
   * then the purge is recorded and the read model forgets the secret. Returns whether
   * anything was purged (a scheduled purge of a secret not due yet does nothing).
   */
  async purge(vault: VaultRecord, name: string, reason: SecretPurgeReason, caller: Caller, successStatus = 204, at?: number): Promise<boolean> {
    const nameKey = keyOf(name);
    return handleCommand(() => this.repo.loadState(vault.vaultId, nameKey, { withDataKeys: true }), async ({ state, streamVersion }) => {
      const events = secretDecider.decide({ type: 'PurgeSecret', data: { name, now: at ?? nowSeconds(), reason, purgeProtection: vault.purgeProtection } }, state);
      if (events.length === 0) return false;
      await this.destroyKeys(vault, nameKey, state.dataKeys, caller);
      await this.append(vault, nameKey, streamVersion, events, caller, successStatus);
      return true;
    }, RETRY);
  }

  /** An opaque blob of every version, sealed by the crypto service (restorable only under the same root). */
  async backup(vault: VaultRecord, name: string, caller: Caller): Promise<Buffer> {
    const rows = await this.repo.allVersions(vault.vaultId, keyOf(name));
    if (rows.length === 0 || rows[0]!.status !== 'active') throw secretNotFound(name);
    const versions = [];
    for (const r of rows) {
      versions.push({ version: r.version, value: await this.reveal(vault, r, caller), contentType: r.contentType, tags: r.tags, enabled: r.enabled, nbf: r.nbf, exp: r.exp, created: r.created, updated: r.updated });
    }
    // Rows come in creation order (seq): the latest version is always the last one.
    const payload: BackupPayload = { kind: 'keyledger.secret.backup', v: 1, name: rows[0]!.name, managed: rows[0]!.managed, versions };
    const plain = Buffer.from(JSON.stringify(payload), 'utf8');
    try {
      const sealed = await this.keyring.sealBackup(BACKUP_PURPOSE, plain, callContextOf(caller));
      return Buffer.concat([BACKUP_MAGIC, sealed]);
    } finally {
      plain.fill(0);
    }
  }

  async restore(vault: VaultRecord, blob: Buffer, caller: Caller): Promise<SecretView> {
    if (blob.length <= BACKUP_MAGIC.length || !blob.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) throw malformedBackup();
    let opened: Buffer;
    try {
      opened = await this.keyring.openBackup(BACKUP_PURPOSE, blob.subarray(BACKUP_MAGIC.length), callContextOf(caller));
    } catch (err) {
      if (err instanceof DomainError && err.code === KeyringErrorCode.Rejected) throw malformedBackup();
      throw err;
    }
    let payload: BackupPayload;
    try {
      payload = parseBackup(opened);
    } finally {
      opened.fill(0);
    }
    const name = payload.name;
    const nameKey = keyOf(name);
    return handleCommand(() => this.repo.loadState(vault.vaultId, nameKey), async ({ state, streamVersion }) => {
      if (state.status !== 'absent') {
        throw new DomainError(VaultErrorCode.SecretRestoreConflict, `secret ${name} already exists`, { name, version: payload.versions[payload.versions.length - 1]!.version });
      }
      const keyRef = newVersionId();
      const generated = await this.keyring.generateDataKey(this.ref(vault, nameKey, keyRef), callContextOf(caller));
      const versions: SecretVersionRecord[] = [];
      try {
        for (const v of payload.versions) {
          const plain = Buffer.from(v.value, 'utf8');
          try {
            const ciphertext = seal(generated.plaintext, generated.keyId, plain, this.identity(vault, nameKey, v.version));
            versions.push({ version: v.version, ciphertext: ciphertext.toString('base64'), keyId: generated.keyId, keyRef, contentType: v.contentType, tags: v.tags, enabled: v.enabled, nbf: v.nbf, exp: v.exp, created: v.created, updated: v.updated });
          } finally {
            plain.fill(0);
          }
        }
      } catch (err) {
        generated.plaintext.fill(0);
        throw err;
      }
      this.keys.put(generated.keyId, generated.plaintext);
      const events = secretDecider.decide({ type: 'RestoreSecret', data: { vaultId: vault.vaultId, name, now: nowSeconds(), managed: payload.managed, versions } }, state);
      await this.append(vault, nameKey, streamVersion, events, caller, 200);
      const last = payload.versions[payload.versions.length - 1]!;
      return { name, version: last.version, contentType: last.contentType, tags: last.tags, enabled: last.enabled, nbf: last.nbf, exp: last.exp, created: last.created, updated: last.updated, managed: payload.managed };
    }, RETRY);
  }

  /** Every secret of a vault being purged: shredded whatever their state. */
  async purgeAllOf(vault: VaultRecord, caller: Caller): Promise<number> {
    let purged = 0;
    for (const nameKey of await this.repo.nameKeysOfVault(vault.vaultId)) {
      if (await this.purge(vault, nameKey, 'vault-purged', caller)) purged++;
    }
    return purged;
  }

  // ---------- internals ----------

  /** The current version of a secret: from the cache, else read (and cached unless it changed meanwhile). */
  private async currentVersion(vaultId: string, nameKey: string): Promise<SecretVersionRow | undefined> {
    const cache = this.current;
    if (!cache) return this.repo.findVersion(vaultId, nameKey, null);
    const key = secretCacheKey(vaultId, nameKey);
    const hit = cache.get(key);
    if (hit) return hit;
    const token = cache.begin();
    let row: SecretVersionRow | undefined;
    try {
      row = await this.repo.findVersion(vaultId, nameKey, null);
    } catch (err) {
      cache.abandon();
      throw err;
    }
    cache.fill(key, token, row);
    return row;
  }

  private identity(vault: VaultRecord, nameKey: string, version: string): ObjectIdentity {
    return { tenant: vault.tenantId, vault: vault.nameKey, collection: 'secrets', name: nameKey, version };
  }

  /**
   * The encoded object identity a row's value is bound to (the AAD of its envelope), kept with
   * the row: a row served from the current-version cache is opened again for every GET, and its
   * identity (tenant, vault, name, version: no secret) never changes.
   */
  private contextOf(vault: VaultRecord, row: SecretVersionRow): Buffer {
    const known = this.contexts.get(row);
    if (known && known.tenant === vault.tenantId && known.vault === vault.nameKey) return known.context;
    const context = encodeObjectIdentity(this.identity(vault, row.nameKey, row.version));
    this.contexts.set(row, { tenant: vault.tenantId, vault: vault.nameKey, context });
    return context;
  }

  private ref(vault: VaultRecord, nameKey: string, keyRef: string): ObjectRef {
    return { tenant: vault.tenantId, vault: vault.nameKey, collection: 'secrets', name: nameKey, version: keyRef };
  }

  private async reveal(vault: VaultRecord, row: SecretVersionRow, caller: Caller): Promise<string> {
    try {
      return await this.keys.use(
        row.keyId,
        () => this.keyring.decryptDataKey(this.ref(vault, row.nameKey, row.keyRef), row.keyId, callContextOf(caller)),
        (key) => {
          const plain = openWithContext(key, row.ciphertext, this.contextOf(vault, row), { expectedKeyId: row.keyId });
          const text = plain.toString('utf8');
          plain.fill(0);
          return text;
        },
      );
    } catch (err) {
      // The secret was purged (its key destroyed) between the read and the decryption.
      if (err instanceof DomainError && err.code === KeyringErrorCode.DataKeyNotFound) throw secretNotFound(row.name);
      throw err;
    }
  }

  private async destroyKeys(vault: VaultRecord, nameKey: string, keys: readonly DataKeyHandle[], caller: Caller): Promise<void> {
    const byRef = new Map<string, string[]>();
    for (const k of keys) byRef.set(k.keyRef, [...(byRef.get(k.keyRef) ?? []), k.keyId]);
    for (const [keyRef, keyIds] of byRef) {
      await this.keyring.destroyDataKeys(this.ref(vault, nameKey, keyRef), keyIds, callContextOf(caller));
      this.keys.forget(keyIds);
    }
  }

  private async decideAndAppend(vault: VaultRecord, name: string, command: (now: number) => SecretCommand, caller: Caller, successStatus: number): Promise<SecretState> {
    const nameKey = keyOf(name);
    return handleCommand(() => this.repo.loadState(vault.vaultId, nameKey), async ({ state, streamVersion }) => {
      const events = secretDecider.decide(command(nowSeconds()), state);
      await this.append(vault, nameKey, streamVersion, events, caller, successStatus);
      return events.reduce(secretDecider.evolve, state);
    }, RETRY);
  }

  /**
   * Appends with the stream version the state was loaded at: a concurrent writer makes it a
   * ConcurrencyError. Returns the stream's version after the append.
   */
  private async append(vault: VaultRecord, nameKey: string, streamVersion: number, events: readonly SecretEvent[], caller: Caller, successStatus: number): Promise<number> {
    const streamId = secretStreamId(vault.vaultId, nameKey);
    const expected: ExpectedVersion = streamVersion === 0 ? 'no_stream' : streamVersion;
    const audit = caller.audit;
    const key = secretCacheKey(vault.vaultId, nameKey);
    let next: number | undefined;
    try {
      ({ nextExpectedVersion: next } = await this.store.appendToStream<SecretEvent>(streamId, expected, events, {
        metadata: { actor: caller.objectId, tenant: vault.tenantId, correlationId: caller.correlationId },
        object: { vault: vault.nameKey, collection: 'secrets', name: nameKey },
        ...(audit ? { audit: [audit.forCommit(successStatus)] } : {}),
        ...this.repo.projection(vault.vaultId, nameKey, events),
      }));
    } finally {
      // Committed (or perhaps committed, when the outcome is unknown): this process's caches
      // forget the secret before the answer leaves (the state cache: any state older than this
      // commit; everything, when its outcome is unknown); others hear it from the commit's notification.
      this.current?.invalidate(key);
      this.states?.invalidate(key, next);
    }
    audit?.committed();
    return next;
  }
}

/**
 * A state as `SecretsRepository.loadState` gives it (the latest version's attributes only, the
 * current data key), so that a cached state holds what a read one would and does not grow.
 */
function asLoaded(state: SecretState): SecretState {
  const latest = state.latest === null ? undefined : state.versions[state.latest];
  return { ...state, versions: state.latest !== null && latest ? { [state.latest]: latest } : {}, dataKeys: state.dataKey ? [state.dataKey] : [] };
}

function parseBackup(buf: Buffer): BackupPayload {
  let p: unknown;
  try {
    p = JSON.parse(buf.toString('utf8'));
  } catch {
    throw malformedBackup();
  }
  const o = p as Partial<BackupPayload>;
  const okVersion = (v: unknown): boolean => {
    const x = v as Record<string, unknown>;
    return (
      typeof x === 'object' &&
      x !== null &&
      typeof x.version === 'string' &&
      /^[0-9a-f]{32}$/.test(x.version) &&
      typeof x.value === 'string' &&
      typeof x.enabled === 'boolean' &&
      Number.isInteger(x.created) &&
      Number.isInteger(x.updated)
    );
  };
  if (o?.kind !== 'keyledger.secret.backup' || o.v !== 1 || typeof o.name !== 'string' || !/^[0-9a-zA-Z-]{1,127}$/.test(o.name)) throw malformedBackup();
  if (!Array.isArray(o.versions) || o.versions.length === 0 || !o.versions.every(okVersion)) throw malformedBackup();
  return { kind: o.kind, v: 1, name: o.name, managed: o.managed === true, versions: o.versions };
}
