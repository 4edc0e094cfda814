import { randomBytes } from 'node:crypto';
import { CryptoError, CryptoErrorCode, type CryptoClient, type JsonWebKey, type KeyVersion, type ObjectRef } from '#libs/crypto-client';
import { DomainError } from '#libs/kernel';
import { handleCommand, RETRY_HOT_STREAMS, type EventStore, type ExpectedVersion, type Loaded } from '#libs/eventstore';
import type { KeysRepository, KeyVersionRow } from '../../adapters/persistence/keys.repository.js';
import { cryptoVaultOf, type VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { assertCanCreate, deletedKeyNotFound, keyDecider, KeyErrorCode, keyNotFound, patchedVersion, type CreatedMaterial, type KeyCommand, type KeyState } from '../../domain/key/key.decider.js';
import { keyStreamId, type KeyEvent, type KeyPurgeReason, type KeyVersionOrigin, type KeyVersionRecord, type RotationPolicyRecord } from '../../domain/key/key.events.js';
import type { CreateKeyInput, ImportKeyInput, KeyAttributesInput, ReleasePolicy, RotationPolicyInput, Tags, UpdateKeyInput } from '../../domain/key/key.rules.js';
import { nameKey as keyOf } from '../../domain/secret/secret.rules.js';
import { VaultErrorCode } from '../../domain/vault.errors.js';
import { callContextOf, type Caller } from '../access/caller.js';
import { decodeSkipToken, toPage, type Page } from '../secrets/paging.js';

/** The public half of a key as Azure's JWK carries it (base64url), never a private part. */
export type PublicJwk = { readonly n?: string; readonly e?: string; readonly crv?: string; readonly x?: string; readonly y?: string };

/** A key version as the service answers it: the vault's metadata, plus the public JWK for single-key answers. */
export type KeyView = KeyVersionRecord & {
  readonly name: string;
  readonly managed: boolean;
  readonly jwk?: PublicJwk;
  readonly deletedDate?: number;
  readonly scheduledPurgeDate?: number;
};

export type RotationPolicyView = { readonly name: string; readonly policy: RotationPolicyRecord | null };

const BACKUP_MAGIC = Buffer.from('KeyledgerKeyBackupV1.', 'ascii');
/**
 * The deadline of crypto's backup and restore calls for a key with `versions` versions: 5 s plus
 * 100 ms a version (Azure backs up at most 500: 55 s). Undefined — the client's default — for a few.
 */
export function backupDeadline(versions: number): { deadlineMs: number } | undefined {
  return versions <= 10 ? undefined : { deadlineMs: 5_000 + 100 * versions };
}

/** The vault's envelope around crypto's own key backup blob (purpose bound into the seal). */
const BACKUP_PURPOSE = 'keyledger/vault-key-backup/v1';
/** A key's stream is decided again after a version conflict, as the secrets' are. */
const RETRY = RETRY_HOT_STREAMS;
const newVersionId = (): string => randomBytes(16).toString('hex');

type BackupPayload = {
  readonly kind: 'keyledger.key.backup';
  readonly v: 1;
  readonly name: string;
  readonly managed: boolean;
  readonly versions: readonly KeyVersionRecord[];
  readonly rotationPolicy: RotationPolicyRecord | null;
  /** The crypto service's own backup blob (material, sealed under its root), base64. */
  readonly material: string;
};

const malformedBackup = (): DomainError => new DomainError(VaultErrorCode.MalformedBackup, 'Backup blob contains invalid or corrupt version.');

function publicJwk(k: JsonWebKey): PublicJwk {
  const b = (buf: Buffer): string | undefined => (buf && buf.length > 0 ? buf.toString('base64url') : undefined);
  const out: Record<string, string> = {};
  for (const [field, value] of [
    ['n', b(k.n)],
    ['e', b(k.e)],
    ['x', b(k.x)],
    ['y', b(k.y)],
  ] as const) {
    if (value !== undefined) out[field] = value;
  }
  if (k.crv) out.crv = k.crv;
  return out;
}

/** RSA modulus bits (a leading zero byte of a JWK `n` does not count). */
function modulusBits(n: Buffer): number | null {
  if (!n || n.length === 0) return null;
  let i = 0;
  while (i < n.length - 1 && n[i] === 0) i++;
  return (n.length - i) * 8 - Math.clz32(n[i]!) + 24;
}

function view(row: KeyVersionRow, jwk?: PublicJwk): KeyView {
  const { vaultId: _v, nameKey: _k, status, deletedDate, scheduledPurgeDate, ...rest } = row;
  return {
    ...rest,
    ...(jwk ? { jwk } : {}),
    ...(status === 'deleted' && deletedDate !== null ? { deletedDate } : {}),
    ...(status === 'deleted' && scheduledPurgeDate !== null ? { scheduledPurgeDate } : {}),
  };
}

const isCrypto = (err: unknown, code: CryptoErrorCode): boolean => err instanceof CryptoError && err.code === code;

/**
 * Keys: the vault owns METADATA (versions, tags, attributes as answered, soft-delete dates,
 * rotation and release policies, managed flag), event-sourced in the vault schema; the crypto
 * service owns MATERIAL and enforces enabled/nbf/exp/key_ops at operation time.
 *
 * Order of every change that touches both: **crypto first, then the vault's events.** A crypto
 * refusal therefore writes nothing anywhere; a failure after crypto succeeded (the append
 * fails, the process dies) leaves crypto ahead of the vault, and the same request retried
 * converges, because each crypto step is made idempotent here:
 *   - create/import/rotate: crypto holds an extra version the vault never lists; the retry
 *     creates a new version, which becomes the latest in both.
 *   - update: crypto receives full replacement values computed from the vault's state and the
 *     patch, so the retry sends the same values again, then appends.
 *   - delete / recover / purge: crypto answering "already done" (KeyNotFound on the live,
 *     resp. deleted, key) is accepted when the key is in the target state there.
 *   - restore: crypto answering KeyConflict is accepted when its latest version is the
 *     backup's latest (the earlier attempt's restore).
 * The vault-first order would instead leave states no retry can fix (a key the vault shows
 * deleted that crypto still uses, or disabled while crypto still signs with it).
 */
export class KeysService {
  constructor(
    private readonly store: EventStore,
    private readonly repo: KeysRepository,
    private readonly crypto: CryptoClient,
  ) {}

  // ---------- reads ----------

  async get(vault: VaultRecord, name: string, version: string | null, caller: Caller): Promise<KeyView> {
    const row = await this.repo.findVersion(vault.vaultId, keyOf(name), version);
    if (!row || row.status !== 'active') throw keyNotFound(version ? `${name}/${version}` : name);
    return view(row, await this.publicPart(vault, row, false, caller));
  }

  async getDeleted(vault: VaultRecord, name: string, caller: Caller): Promise<KeyView> {
    const row = await this.repo.findVersion(vault.vaultId, keyOf(name), null);
    if (!row || row.status !== 'deleted') throw deletedKeyNotFound(name);
    return view(row, await this.publicPart(vault, row, true, caller));
  }

  async list(vault: VaultRecord, skipToken: string | undefined, limit: number, status: 'active' | 'deleted' = 'active'): Promise<Page<KeyView>> {
    const rows = await this.repo.listLatest(vault.vaultId, status, decodeSkipToken(skipToken), limit + 1);
    const page = toPage(rows, limit, (r) => r.nameKey);
    return { items: page.items.map((r) => view(r)), next: page.next };
  }

  async listVersions(vault: VaultRecord, name: string, skipToken: string | undefined, limit: number): Promise<Page<KeyView>> {
    const rows = await this.repo.listVersions(vault.vaultId, keyOf(name), decodeSkipToken(skipToken), limit + 1);
    const page = toPage(rows, limit, (r) => r.version);
    return { items: page.items.map((r) => view(r)), next: page.next };
  }

  /**
   * The version a request means, as the vault lists it: `version` when it exists, else the
   * latest. For the cryptographic operations: crypto's own "latest" may be a newer version the
   * vault never recorded (a create whose append failed), so resolve here and pass crypto the
   * version. Throws KeyNotFound for a missing or deleted key or version.
   */
  async resolveVersion(vault: VaultRecord, name: string, version: string | null): Promise<{ readonly name: string; readonly version: string; readonly kty: string; readonly keyOps: readonly string[] }> {
    const row = await this.repo.findVersion(vault.vaultId, keyOf(name), version);
    if (!row || row.status !== 'active') throw keyNotFound(version ? `${name}/${version}` : name);
    return { name: row.name, version: row.version, kty: row.kty, keyOps: row.keyOps };
  }

  async getRotationPolicy(vault: VaultRecord, name: string): Promise<RotationPolicyView> {
    const found = await this.repo.rotationPolicy(vault.vaultId, keyOf(name));
    if (!found || found.status !== 'active') throw keyNotFound(name);
    return { name, policy: found.policy };
  }

  // ---------- writes ----------

  async create(vault: VaultRecord, name: string, input: CreateKeyInput, caller: Caller): Promise<KeyView> {
    return this.newVersion(vault, name, 'create', caller, async (ref) =>
      this.crypto.createKey({
        ctx: callContextOf(caller),
        ref,
        kty: input.kty,
        ...(input.keySize !== null && (input.kty.startsWith('RSA') || input.kty.startsWith('oct')) ? { keySize: input.keySize } : {}),
        ...(input.crv !== null ? { crv: input.crv } : {}),
        keyOps: input.keyOps,
        attributes: this.cryptoAttributes(input.attributes),
      }),
      input.attributes,
      input.tags,
      input.releasePolicy,
    );
  }

  async import(vault: VaultRecord, name: string, input: ImportKeyInput, caller: Caller): Promise<KeyView> {
    return this.newVersion(vault, name, 'import', caller, async (ref) =>
      this.crypto.importKey({ ctx: callContextOf(caller), ref, jwkJson: input.jwkJson, hsm: input.hsm, keyOps: input.keyOps, attributes: this.cryptoAttributes(input.attributes) }),
      input.attributes,
      input.tags,
      input.releasePolicy,
    );
  }

  /**
   * A certificate's key version (`managed: true`, the certificate's version id): the material
   * is created in crypto (`jwkJson` absent) or imported (the certificate's own key, exportable).
   */
  async createForCertificate(
    vault: VaultRecord,
    name: string,
    version: string,
    spec: { readonly kty: string; readonly keySize: number | null; readonly crv: string | null; readonly keyOps: readonly string[]; readonly jwkJson?: string },
    attributes: KeyAttributesInput,
    caller: Caller,
  ): Promise<KeyView> {
    const origin: KeyVersionOrigin = spec.jwkJson !== undefined ? 'import' : 'create';
    return this.newVersion(
      vault,
      name,
      origin,
      caller,
      async (ref) =>
        spec.jwkJson !== undefined
          ? this.crypto.importKey({ ctx: callContextOf(caller), ref, jwkJson: spec.jwkJson, hsm: spec.kty.endsWith('-HSM'), keyOps: spec.keyOps, attributes: this.cryptoAttributes(attributes) })
          : this.crypto.createKey({
              ctx: callContextOf(caller),
              ref,
              kty: spec.kty,
              ...(spec.keySize !== null && spec.kty.startsWith('RSA') ? { keySize: spec.keySize } : {}),
              ...(spec.crv !== null ? { crv: spec.crv } : {}),
              keyOps: spec.keyOps,
              attributes: this.cryptoAttributes(attributes),
            }),
      attributes,
      null,
      null,
      Math.floor(Date.now() / 1000),
      version,
    );
  }

  /** A new version with the latest one's type, size or curve and key_ops (tags and policies carried over). */
  async rotate(vault: VaultRecord, name: string, caller: Caller, at?: number): Promise<KeyView> {
    const row = await this.repo.findVersion(vault.vaultId, keyOf(name), null);
    if (!row || row.status !== 'active') throw keyNotFound(name);
    const attributes: KeyAttributesInput = { enabled: true, exportable: row.exportable };
    const policy = (await this.repo.rotationPolicy(vault.vaultId, keyOf(name)))?.policy ?? null;
    const now = at ?? Math.floor(Date.now() / 1000);
    const expiryDays = policy?.expiryTime ? durationSeconds(policy.expiryTime) : null;
    const withExpiry: KeyAttributesInput = expiryDays !== null ? { ...attributes, exp: now + expiryDays } : attributes;
    return this.newVersion(vault, name, 'rotate', caller, async (ref) =>
      this.crypto.createKey({
        ctx: callContextOf(caller),
        ref,
        kty: row.kty,
        ...(row.keySize !== null && (row.kty.startsWith('RSA') || row.kty.startsWith('oct')) ? { keySize: row.keySize } : {}),
        ...(row.crv !== null ? { crv: row.crv } : {}),
        keyOps: row.keyOps,
        attributes: this.cryptoAttributes(withExpiry),
      }),
      withExpiry,
      row.tags,
      row.releasePolicy,
      now,
    );
  }

  async update(vault: VaultRecord, name: string, version: string | null, patch: UpdateKeyInput, caller: Caller): Promise<KeyView> {
    const nameKey = keyOf(name);
    return handleCommand(() => this.repo.loadState(vault.vaultId, nameKey, version ? [version] : []), async ({ state, streamVersion }) => {
      const target = version ?? state.latest;
      if (state.status !== 'active' || target === null) throw keyNotFound(version ? `${name}/${version}` : name);
      const current = state.versions[target];
      if (current === undefined) throw keyNotFound(`${name}/${target}`);
      // Decide first (pure): a refusal reaches neither crypto nor the store.
      const events = keyDecider.decide({ type: 'UpdateKeyVersion', data: { name, version: target, now: Math.floor(Date.now() / 1000), patch } }, state);
      const next = patchedVersion(current, patch);
      let jwk: PublicJwk;
      const touchesCrypto = patch.keyOps !== undefined || patch.attributes.enabled !== undefined || patch.attributes.nbf !== undefined || patch.attributes.exp !== undefined;
      if (touchesCrypto) {
        const updated = await this.crypto.updateKey({
          ctx: callContextOf(caller),
          ref: this.ref(vault, nameKey, target),
          attributes: { enabled: next.enabled, notBefore: next.nbf ?? 0, expires: next.exp ?? 0, exportable: current.exportable },
          keyOps: next.keyOps,
        });
        jwk = publicJwk(updated.key.key);
      } else {
        jwk = publicJwk((await this.crypto.getKey({ ctx: callContextOf(caller), ref: this.ref(vault, nameKey, target) })).key.key);
      }
      await this.append(vault, nameKey, streamVersion, events, caller);
      const after = keyDecider.evolve(state, events[0]!).versions[target]!;
      return { name: state.name ?? name, version: target, managed: state.managed, ...after, jwk };
    }, RETRY);
  }

  /** `byCertificate`: the certificate that manages the key is being deleted (the only way a managed key is). */
  async delete(vault: VaultRecord, name: string, caller: Caller, byCertificate = false): Promise<KeyView> {
    const nameKey = keyOf(name);
    await this.decideCryptoAppend(vault, name, (now) => ({ type: 'DeleteKey', data: { name, now, retentionDays: vault.retentionDays, ...(byCertificate ? { byCertificate } : {}) } }), caller, async () => {
      try {
        await this.crypto.deleteKey({ ctx: callContextOf(caller), ref: this.ref(vault, nameKey, '') });
      } catch (err) {
        // Already deleted there by an earlier attempt whose append failed.
        if (!isCrypto(err, CryptoErrorCode.KeyNotFound) || !(await this.cryptoHas(vault, nameKey, true, caller))) throw err;
      }
    });
    return this.getDeleted(vault, name, caller);
  }

  async recover(vault: VaultRecord, name: string, caller: Caller): Promise<KeyView> {
    const nameKey = keyOf(name);
    await this.decideCryptoAppend(vault, name, (now) => ({ type: 'RecoverKey', data: { name, now } }), caller, async () => {
      try {
        await this.crypto.recoverKey({ ctx: callContextOf(caller), ref: this.ref(vault, nameKey, '') });
      } catch (err) {
        if (!isCrypto(err, CryptoErrorCode.KeyNotFound) || !(await this.cryptoHas(vault, nameKey, false, caller))) throw err;
      }
    });
    return this.get(vault, name, null, caller);
  }

  /** Purge: crypto destroys the material (every version), then the vault forgets the key. Returns whether anything was purged. */
  async purge(vault: VaultRecord, name: string, reason: KeyPurgeReason, caller: Caller, at?: number): Promise<boolean> {
    const nameKey = keyOf(name);
    const events = await this.decideCryptoAppend(vault, name, (now) => ({ type: 'PurgeKey', data: { name, now: at ?? now, reason, purgeProtection: vault.purgeProtection } }), caller, async () => {
      try {
        await this.crypto.destroyKey({ ctx: callContextOf(caller), ref: this.ref(vault, nameKey, '') });
      } catch (err) {
        if (!isCrypto(err, CryptoErrorCode.KeyNotFound)) throw err;
      }
    }, 204);
    return events > 0;
  }

  async setRotationPolicy(vault: VaultRecord, name: string, policy: RotationPolicyInput, caller: Caller): Promise<RotationPolicyView> {
    const nameKey = keyOf(name);
    return handleCommand(() => this.repo.loadState(vault.vaultId, nameKey), async ({ state, streamVersion }) => {
      const events = keyDecider.decide({ type: 'SetRotationPolicy', data: { name, now: Math.floor(Date.now() / 1000), policy } }, state);
      await this.append(vault, nameKey, streamVersion, events, caller);
      return { name: state.name ?? name, policy: events.reduce(keyDecider.evolve, state).rotationPolicy };
    }, RETRY);
  }

  /** A Notify action fired: records KeyNearExpiry for the latest version (once per version; nothing when already recorded). */
  async notifyNearExpiry(vault: VaultRecord, name: string, version: string, caller: Caller, at?: number): Promise<boolean> {
    const nameKey = keyOf(name);
    return handleCommand(() => this.repo.loadState(vault.vaultId, nameKey, [version]), async ({ state, streamVersion }) => {
      const events = keyDecider.decide({ type: 'NotifyNearExpiry', data: { name, version, now: at ?? Math.floor(Date.now() / 1000) } }, state);
      if (events.length === 0) return false;
      await this.append(vault, nameKey, streamVersion, events, caller);
      return true;
    }, RETRY);
  }

  /** One blob: the vault's metadata of every version and crypto's own (root-sealed) backup of the material, sealed together by crypto. */
  async backup(vault: VaultRecord, name: string, caller: Caller): Promise<Buffer> {
    const nameKey = keyOf(name);
    const rows = await this.repo.allVersions(vault.vaultId, nameKey);
    if (rows.length === 0 || rows[0]!.status !== 'active') throw keyNotFound(name);
    // Crypto opens every version's material: the call's deadline grows with the versions (a key
    // with hundreds of versions outlasted the default 5 s and answered 503 — found by the fuzzer).
    const deadline = backupDeadline(rows.length);
    const material = await this.crypto.backupKey({ ctx: callContextOf(caller), ref: this.ref(vault, nameKey, '') }, deadline);
    const policy = (await this.repo.rotationPolicy(vault.vaultId, nameKey))?.policy ?? null;
    const versions: KeyVersionRecord[] = rows.map((r) => {
      const { vaultId: _v, nameKey: _k, name: _n, status: _s, managed: _m, deletedDate: _d, scheduledPurgeDate: _p, ...rec } = r;
      return rec;
    });
    const payload: BackupPayload = { kind: 'keyledger.key.backup', v: 1, name: rows[0]!.name, managed: rows[0]!.managed, versions, rotationPolicy: policy, material: material.blob.toString('base64') };
    const plain = Buffer.from(JSON.stringify(payload), 'utf8');
    const sealed = await this.crypto.sealBackup({ ctx: callContextOf(caller), purpose: BACKUP_PURPOSE, payload: plain }, deadline);
    return Buffer.concat([BACKUP_MAGIC, sealed.blob]);
  }

  /** Checks that a key backup opens here (this deployment's root, intact) without restoring anything; the key's name. */
  async checkBackup(blob: Buffer, caller: Caller): Promise<string> {
    return (await this.openBackup(blob, caller)).name;
  }

  async restore(vault: VaultRecord, blob: Buffer, caller: Caller): Promise<KeyView> {
    const payload = await this.openBackup(blob, caller);
    const name = payload.name;
    const nameKey = keyOf(name);
    const last = payload.versions[payload.versions.length - 1]!;
    return handleCommand(() => this.repo.loadState(vault.vaultId, nameKey), async ({ state, streamVersion }) => {
      const events = keyDecider.decide(
        { type: 'RestoreKey', data: { vaultId: vault.vaultId, name, now: Math.floor(Date.now() / 1000), managed: payload.managed, versions: payload.versions, rotationPolicy: payload.rotationPolicy } },
        state,
      );
      let jwk: PublicJwk;
      try {
        const restored = await this.crypto.restoreKey(
          { ctx: callContextOf(caller), ref: { tenant: vault.tenantId, vault: cryptoVaultOf(vault), collection: 'keys', name: nameKey, version: '' }, blob: Buffer.from(payload.material, 'base64') },
          backupDeadline(payload.versions.length),
        );
        jwk = publicJwk(restored.key.key);
      } catch (err) {
        if (isCrypto(err, CryptoErrorCode.CiphertextInvalid)) throw malformedBackup();
        if (!isCrypto(err, CryptoErrorCode.KeyConflict)) throw err;
        // An earlier attempt restored the material but not the metadata: accept only that very key.
        const there = await this.cryptoKey(vault, nameKey, false, caller);
        if (there?.ref.version !== last.version) throw new DomainError('KeyRestoreConflict', `key ${name} already exists`, { name, version: last.version });
        jwk = publicJwk(there.key);
      }
      await this.append(vault, nameKey, streamVersion, events, caller);
      return { ...last, name, managed: payload.managed, jwk };
    }, RETRY);
  }

  private async openBackup(blob: Buffer, caller: Caller): Promise<BackupPayload> {
    if (blob.length <= BACKUP_MAGIC.length || !blob.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) throw malformedBackup();
    let opened: Buffer;
    try {
      opened = (await this.crypto.openBackup({ ctx: callContextOf(caller), purpose: BACKUP_PURPOSE, blob: blob.subarray(BACKUP_MAGIC.length) })).payload;
    } catch (err) {
      if (isCrypto(err, CryptoErrorCode.CiphertextInvalid) || isCrypto(err, CryptoErrorCode.BadParameter)) throw malformedBackup();
      throw err;
    }
    return parseBackup(opened);
  }

  /** Every key of a vault being purged: destroyed whatever its state. */
  async purgeAllOf(vault: VaultRecord, caller: Caller): Promise<number> {
    let purged = 0;
    for (const nameKey of await this.repo.nameKeysOfVault(vault.vaultId)) {
      if (await this.purge(vault, nameKey, 'vault-purged', caller)) purged++;
    }
    return purged;
  }

  // ---------- internals ----------

  private ref(vault: VaultRecord, nameKey: string, version: string): ObjectRef {
    return { tenant: vault.tenantId, vault: cryptoVaultOf(vault), collection: 'keys', name: nameKey, version };
  }

  private cryptoAttributes(a: KeyAttributesInput): { enabled: boolean; notBefore: number; expires: number; exportable: boolean } {
    return { enabled: a.enabled ?? true, notBefore: a.nbf ?? 0, expires: a.exp ?? 0, exportable: a.exportable ?? false };
  }

  private async cryptoKey(vault: VaultRecord, nameKey: string, deleted: boolean, caller: Caller): Promise<KeyVersion | undefined> {
    try {
      return (await this.crypto.getKey({ ctx: callContextOf(caller), ref: this.ref(vault, nameKey, ''), deleted })).key;
    } catch (err) {
      if (isCrypto(err, CryptoErrorCode.KeyNotFound)) return undefined;
      throw err;
    }
  }

  private async cryptoHas(vault: VaultRecord, nameKey: string, deleted: boolean, caller: Caller): Promise<boolean> {
    return (await this.cryptoKey(vault, nameKey, deleted, caller)) !== undefined;
  }

  private async publicPart(vault: VaultRecord, row: KeyVersionRow, deleted: boolean, caller: Caller): Promise<PublicJwk> {
    try {
      const k = await this.crypto.getKey({ ctx: callContextOf(caller), ref: this.ref(vault, row.nameKey, row.version), deleted });
      return publicJwk(k.key.key);
    } catch (err) {
      // Purged (or deleted) there between the read and this call.
      if (isCrypto(err, CryptoErrorCode.KeyNotFound)) throw deleted ? deletedKeyNotFound(row.name) : keyNotFound(row.name);
      throw err;
    }
  }

  /** create / import / rotate: crypto creates the version (the vault assigns its id), then the vault records it. */
  private async newVersion(
    vault: VaultRecord,
    name: string,
    origin: KeyVersionOrigin,
    caller: Caller,
    make: (ref: ObjectRef) => Promise<{ key: KeyVersion }>,
    attributes: KeyAttributesInput,
    tags: Tags | null,
    releasePolicy: ReleasePolicy | null,
    now: number = Math.floor(Date.now() / 1000),
    /** A certificate's version id: the key is the certificate's (managed). */
    certificateVersion?: string,
  ): Promise<KeyView> {
    const nameKey = keyOf(name);
    const before = await this.repo.loadState(vault.vaultId, nameKey);
    const state = before.state;
    if (origin === 'rotate' && state.status !== 'active') throw keyNotFound(name);
    assertCanCreate(state, name);
    if (state.managed && certificateVersion === undefined) throw new DomainError(KeyErrorCode.KeyManaged, `key ${name} is managed by a certificate`, { name });
    const version = certificateVersion ?? newVersionId();
    if (caller.audit) caller.audit.objectVersion = version;
    const made = (await make(this.ref(vault, nameKey, version))).key;
    const material: CreatedMaterial = {
      version,
      kty: made.key.kty,
      keySize: made.key.kty.startsWith('RSA') ? modulusBits(made.key.n) : null,
      crv: made.key.crv ? made.key.crv : null,
      keyOps: made.key.keyOps,
      hsm: made.hsm,
    };
    const jwk = publicJwk(made.key);
    // The version exists in crypto now: only the decision and the append are retried (on fresh state).
    let first: Loaded<KeyState> | undefined = before;
    return handleCommand(
      async () => {
        const loaded = first ?? (await this.repo.loadState(vault.vaultId, nameKey));
        first = undefined;
        return loaded;
      },
      async ({ state: current, streamVersion }) => {
        const events = keyDecider.decide(
          { type: 'CreateKeyVersion', data: { vaultId: vault.vaultId, name, now, origin, material, attributes, tags, releasePolicy, ...(certificateVersion !== undefined ? { managed: true } : {}) } },
          current,
        );
        await this.append(vault, nameKey, streamVersion, events, caller);
        const d = (events[0] as Extract<KeyEvent, { type: 'KeyVersionCreated' }>).data;
        const { vaultId: _v, origin: _o, ...rec } = d;
        return { ...rec, jwk };
      },
      RETRY,
    );
  }

  /** Decide (refusals write nothing) → the crypto step → append; returns how many events were appended. */
  private async decideCryptoAppend(vault: VaultRecord, name: string, command: (now: number) => KeyCommand, caller: Caller, cryptoStep: () => Promise<void>, successStatus = 200): Promise<number> {
    const nameKey = keyOf(name);
    return handleCommand(() => this.repo.loadState(vault.vaultId, nameKey), async ({ state, streamVersion }) => {
      const events = keyDecider.decide(command(Math.floor(Date.now() / 1000)), state);
      if (events.length === 0) return 0;
      await cryptoStep();
      await this.append(vault, nameKey, streamVersion, events, caller, successStatus);
      return events.length;
    }, RETRY);
  }

  private async append(vault: VaultRecord, nameKey: string, streamVersion: number, events: readonly KeyEvent[], caller: Caller, successStatus = 200): Promise<void> {
    const expected: ExpectedVersion = streamVersion === 0 ? 'no_stream' : streamVersion;
    const audit = caller.audit;
    await this.store.appendToStream<KeyEvent>(keyStreamId(vault.vaultId, nameKey), expected, events, {
      metadata: { actor: caller.objectId, tenant: vault.tenantId, correlationId: caller.correlationId },
      object: { vault: vault.nameKey, collection: 'keys', name: nameKey },
      ...(audit ? { audit: [audit.forCommit(successStatus)] } : {}),
      inTransaction: (tx, recorded) => this.repo.project(tx, vault.vaultId, nameKey, recorded),
    });
    audit?.committed();
  }
}

/** Seconds of an ISO 8601 duration of days, months (30 days) and years (365 days); null if not one. */
export function durationSeconds(s: string): number | null {
  const m = /^P(?:(\d{1,4})Y)?(?:(\d{1,5})M)?(?:(\d{1,6})D)?$/.exec(s);
  if (!m || s === 'P') return null;
  return (Number(m[1] ?? 0) * 365 + Number(m[2] ?? 0) * 30 + Number(m[3] ?? 0)) * 86_400;
}

function parseBackup(buf: Buffer): BackupPayload {
  let p: unknown;
  try {
    p = JSON.parse(buf.toString('utf8'));
  } catch {
    throw malformedBackup();
  }
  const o = p as Partial<BackupPayload>;
  const okVersion = (x: unknown): boolean => {
    const r = x as Record<string, unknown>;
    return typeof r === 'object' && r !== null && typeof r.version === 'string' && /^[0-9a-f]{32}$/.test(r.version) && typeof r.kty === 'string' && Array.isArray(r.keyOps) && typeof r.enabled === 'boolean' && Number.isInteger(r.created);
  };
  if (o?.kind !== 'keyledger.key.backup' || o.v !== 1 || typeof o.name !== 'string' || !/^[0-9a-zA-Z-]{1,127}$/.test(o.name)) throw malformedBackup();
  if (!Array.isArray(o.versions) || o.versions.length === 0 || !o.versions.every(okVersion) || typeof o.material !== 'string') throw malformedBackup();
  return { kind: o.kind, v: 1, name: o.name, managed: o.managed === true, versions: o.versions, rotationPolicy: o.rotationPolicy ?? null, material: o.material };
}

