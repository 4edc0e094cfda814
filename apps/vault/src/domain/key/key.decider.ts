import { assertNever, DomainError, type Decider } from '#libs/kernel';
import { badParameter, VaultErrorCode } from '../vault.errors.js';
import type { KeyEvent, KeyPurgeReason, KeyVersionOrigin, KeyVersionRecord, RotationPolicyRecord } from './key.events.js';
import type { KeyAttributesInput, ReleasePolicy, RotationPolicyInput, Tags, UpdateKeyInput } from './key.rules.js';

/** Stable codes of the keys domain; the HTTP adapter maps each to Azure's answer (keys.routes.ts). */
export const KeyErrorCode = {
  KeyNotFound: 'KeyNotFound',
  DeletedKeyNotFound: 'DeletedKeyNotFound',
  KeyIsDeletedButRecoverable: 'KeyIsDeletedButRecoverable',
  KeyRestoreConflict: 'KeyRestoreConflict',
  KeyManaged: 'KeyManaged',
  ReleasePolicyImmutable: 'ReleasePolicyImmutable',
} as const;

export const keyNotFound = (name: string): DomainError => new DomainError(KeyErrorCode.KeyNotFound, `key ${name} was not found`, { name });
export const deletedKeyNotFound = (name: string): DomainError => new DomainError(KeyErrorCode.DeletedKeyNotFound, `deleted key ${name} was not found`, { name });

export type KeyVersionState = Omit<KeyVersionRecord, 'version'>;

/**
 * What one key's commands are decided on, loaded from the read model (kept in step in the
 * append transaction): `versions` holds the versions a command refers to (the latest, and the
 * one an update names).
 */
export type KeyState = {
  readonly status: 'absent' | 'active' | 'deleted';
  readonly name: string | null;
  readonly managed: boolean;
  readonly latest: string | null;
  readonly versions: Readonly<Record<string, KeyVersionState>>;
  readonly deletedDate: number | null;
  readonly scheduledPurgeDate: number | null;
  readonly rotationPolicy: RotationPolicyRecord | null;
  /** The version a KeyNearExpiry was last recorded for (a Notify action fires once per version). */
  readonly nearExpiryNotified: string | null;
};

export const initialKeyState = (): KeyState => ({
  status: 'absent',
  name: null,
  managed: false,
  latest: null,
  versions: {},
  deletedDate: null,
  scheduledPurgeDate: null,
  rotationPolicy: null,
  nearExpiryNotified: null,
});

/** What the crypto service reported for a version it created (the vault records it as it is). */
export type CreatedMaterial = { readonly version: string; readonly kty: string; readonly keySize: number | null; readonly crv: string | null; readonly keyOps: readonly string[]; readonly hsm: boolean };

export type CreateKeyVersion = {
  readonly type: 'CreateKeyVersion';
  readonly data: {
    readonly vaultId: string;
    readonly name: string;
    readonly now: number;
    readonly origin: KeyVersionOrigin;
    readonly material: CreatedMaterial;
    readonly attributes: KeyAttributesInput;
    readonly tags: Tags | null;
    readonly releasePolicy: ReleasePolicy | null;
    /** A certificate's key version (created by the certificates service only). */
    readonly managed?: boolean;
  };
};
export type UpdateKeyVersion = { readonly type: 'UpdateKeyVersion'; readonly data: { readonly name: string; readonly version: string; readonly now: number; readonly patch: UpdateKeyInput } };
export type DeleteKey = { readonly type: 'DeleteKey'; readonly data: { readonly name: string; readonly now: number; readonly retentionDays: number; readonly byCertificate?: boolean } };
export type RecoverKey = { readonly type: 'RecoverKey'; readonly data: { readonly name: string; readonly now: number } };
export type PurgeKey = { readonly type: 'PurgeKey'; readonly data: { readonly name: string; readonly now: number; readonly reason: KeyPurgeReason; readonly purgeProtection: boolean } };
export type RestoreKey = {
  readonly type: 'RestoreKey';
  readonly data: { readonly vaultId: string; readonly name: string; readonly now: number; readonly managed: boolean; readonly versions: readonly KeyVersionRecord[]; readonly rotationPolicy: RotationPolicyRecord | null };
};
export type SetRotationPolicy = { readonly type: 'SetRotationPolicy'; readonly data: { readonly name: string; readonly now: number; readonly policy: RotationPolicyInput } };

export type NotifyNearExpiry = { readonly type: 'NotifyNearExpiry'; readonly data: { readonly name: string; readonly version: string; readonly now: number } };

export type KeyCommand = CreateKeyVersion | UpdateKeyVersion | DeleteKey | RecoverKey | PurgeKey | RestoreKey | SetRotationPolicy | NotifyNearExpiry;

const DAY = 86_400;

/** Can a new version be created? Checked before the crypto service is asked, and again by decide. */
export function assertCanCreate(state: KeyState, name: string): void {
  if (state.status === 'deleted') throw new DomainError(KeyErrorCode.KeyIsDeletedButRecoverable, `key ${name} is deleted but recoverable`, { name: state.name ?? name });
}

/** The attributes and key_ops a version has after `patch`: what the crypto service is told, then what the event records. */
export function patchedVersion(current: KeyVersionState, patch: UpdateKeyInput): { keyOps: readonly string[]; enabled: boolean; nbf: number | null; exp: number | null } {
  const a = patch.attributes;
  const nbf = a.nbf === undefined ? current.nbf : a.nbf;
  const exp = a.exp === undefined ? current.exp : a.exp;
  if (nbf !== null && exp !== null && exp < nbf) throw badParameter("Property 'attributes.exp' must not be before 'attributes.nbf'.", { reason: 'Attributes' });
  return { keyOps: patch.keyOps ?? current.keyOps, enabled: a.enabled ?? current.enabled, nbf, exp };
}

const copyTags = (t: Tags | null): Tags | null => (t === null ? null : { ...t });
const copyPolicy = (p: ReleasePolicy | null): ReleasePolicy | null => (p === null ? null : { ...p });
const copyRotation = (p: RotationPolicyRecord | null): RotationPolicyRecord | null =>
  p === null ? null : { ...p, lifetimeActions: Array.from(p.lifetimeActions, (a) => ({ trigger: { ...a.trigger }, action: { ...a.action } })) };

function decide(command: KeyCommand, state: KeyState): readonly KeyEvent[] {
  switch (command.type) {
    case 'CreateKeyVersion': {
      const c = command.data;
      assertCanCreate(state, c.name);
      // A certificate's key takes new versions from the certificate only.
      if (state.managed && c.managed !== true) throw new DomainError(KeyErrorCode.KeyManaged, `key ${c.name} is managed by a certificate`, { name: c.name });
      const a = c.attributes;
      const m = c.material;
      return [
        {
          type: 'KeyVersionCreated',
          data: {
            vaultId: c.vaultId,
            name: state.name ?? c.name,
            managed: c.managed ?? state.managed,
            origin: c.origin,
            version: m.version,
            kty: m.kty,
            keySize: m.keySize,
            crv: m.crv,
            keyOps: [...m.keyOps],
            hsm: m.hsm,
            exportable: a.exportable ?? false,
            enabled: a.enabled ?? true,
            nbf: a.nbf ?? null,
            exp: a.exp ?? null,
            tags: copyTags(c.tags),
            releasePolicy: copyPolicy(c.releasePolicy),
            created: c.now,
            updated: c.now,
          },
        },
        ...(c.origin === 'rotate' && state.latest !== null ? [{ type: 'KeyRotated' as const, data: { version: m.version, previousVersion: state.latest, rotatedDate: c.now } }] : []),
      ];
    }
    case 'UpdateKeyVersion': {
      const c = command.data;
      if (state.status !== 'active') throw keyNotFound(c.name);
      const current = state.versions[c.version];
      if (current === undefined) throw keyNotFound(`${c.name}/${c.version}`);
      const p = c.patch;
      if (p.attributes.exportable !== undefined && p.attributes.exportable !== current.exportable) {
        throw badParameter("Property 'attributes.exportable' cannot be changed after the key is created.", { reason: 'Exportable' });
      }
      if (p.releasePolicy !== undefined && current.releasePolicy?.immutable === true) {
        throw new DomainError(KeyErrorCode.ReleasePolicyImmutable, 'The release policy of this key is immutable.', { name: c.name });
      }
      const next = patchedVersion(current, p);
      return [
        {
          type: 'KeyVersionUpdated',
          data: {
            version: c.version,
            keyOps: [...next.keyOps],
            enabled: next.enabled,
            nbf: next.nbf,
            exp: next.exp,
            tags: copyTags(p.tags === undefined ? current.tags : p.tags),
            releasePolicy: copyPolicy(p.releasePolicy === undefined ? current.releasePolicy : p.releasePolicy),
            updated: c.now,
          },
        },
      ];
    }
    case 'DeleteKey': {
      const c = command.data;
      if (state.status !== 'active') throw keyNotFound(c.name);
      if (state.managed && c.byCertificate !== true) throw new DomainError(KeyErrorCode.KeyManaged, `key ${c.name} is managed by a certificate`, { name: c.name });
      return [{ type: 'KeyDeleted', data: { deletedDate: c.now, scheduledPurgeDate: c.now + c.retentionDays * DAY } }];
    }
    case 'RecoverKey': {
      const c = command.data;
      if (state.status !== 'deleted') throw keyNotFound(c.name);
      return [{ type: 'KeyRecovered', data: { recoveredDate: c.now } }];
    }
    case 'PurgeKey': {
      const c = command.data;
      if (c.reason === 'vault-purged') {
        if (state.status === 'absent') return [];
      } else {
        if (state.status !== 'deleted') throw deletedKeyNotFound(c.name);
        const due = state.scheduledPurgeDate !== null && state.scheduledPurgeDate <= c.now;
        if (c.reason === 'scheduled' && !due) return [];
        if (c.reason === 'request' && c.purgeProtection && !due) {
          throw new DomainError(VaultErrorCode.PurgeProtected, `key ${c.name} cannot be purged while purge protection holds it`, { name: c.name });
        }
      }
      return [{ type: 'KeyPurged', data: { purgedDate: c.now, reason: c.reason } }];
    }
    case 'RestoreKey': {
      const c = command.data;
      if (state.status !== 'absent') throw new DomainError(KeyErrorCode.KeyRestoreConflict, `key ${c.name} already exists`, { name: c.name });
      if (c.versions.length === 0) throw new DomainError(VaultErrorCode.MalformedBackup, 'the backup holds no versions');
      const versions = Array.from(c.versions, (v) => ({ ...v, keyOps: [...v.keyOps], tags: copyTags(v.tags), releasePolicy: copyPolicy(v.releasePolicy) }));
      return [{ type: 'KeyRestored', data: { vaultId: c.vaultId, name: c.name, managed: c.managed, restoredDate: c.now, versions, rotationPolicy: copyRotation(c.rotationPolicy) } }];
    }
    case 'SetRotationPolicy': {
      const c = command.data;
      if (state.status !== 'active') throw keyNotFound(c.name);
      const p = c.policy;
      const created = state.rotationPolicy?.created ?? c.now;
      return [
        {
          type: 'KeyRotationPolicyUpdated',
          data: copyRotation({ lifetimeActions: p.lifetimeActions, expiryTime: p.expiryTime, created, updated: c.now })!,
        },
      ];
    }
    case 'NotifyNearExpiry': {
      const c = command.data;
      if (state.status !== 'active') throw keyNotFound(c.name);
      // Only the latest version, only once, only when it has an expiry.
      const exp = state.versions[c.version]?.exp ?? null;
      if (state.latest !== c.version || state.nearExpiryNotified === c.version || exp === null) return [];
      return [{ type: 'KeyNearExpiry', data: { version: c.version, exp, notifiedDate: c.now } }];
    }
    default:
      return assertNever(command, 'key command');
  }
}

const versionState = (r: KeyVersionRecord): KeyVersionState => {
  const { version: _v, ...rest } = r;
  return rest;
};

function evolve(state: KeyState, event: KeyEvent): KeyState {
  switch (event.type) {
    case 'KeyVersionCreated': {
      const { vaultId: _vault, name, managed, origin: _origin, ...record } = event.data;
      return { ...state, status: 'active', name: state.name ?? name, managed, latest: record.version, versions: { ...state.versions, [record.version]: versionState(record) } };
    }
    case 'KeyVersionUpdated': {
      const { version, ...attrs } = event.data;
      const current = state.versions[version];
      if (current === undefined) return state;
      return { ...state, versions: { ...state.versions, [version]: { ...current, ...attrs } } };
    }
    case 'KeyDeleted':
      return { ...state, status: 'deleted', deletedDate: event.data.deletedDate, scheduledPurgeDate: event.data.scheduledPurgeDate };
    case 'KeyRecovered':
      return { ...state, status: 'active', deletedDate: null, scheduledPurgeDate: null };
    case 'KeyPurged':
      return initialKeyState();
    case 'KeyRestored': {
      const e = event.data;
      const versions: Record<string, KeyVersionState> = {};
      for (const v of e.versions) versions[v.version] = versionState(v);
      return {
        status: 'active',
        name: e.name,
        managed: e.managed,
        latest: e.versions[e.versions.length - 1]!.version,
        versions,
        deletedDate: null,
        scheduledPurgeDate: null,
        rotationPolicy: e.rotationPolicy,
        nearExpiryNotified: null,
      };
    }
    case 'KeyRotationPolicyUpdated':
      return { ...state, rotationPolicy: event.data };
    case 'KeyNearExpiry':
      return { ...state, nearExpiryNotified: event.data.version };
    case 'KeyRotated':
      return state;
    default:
      return assertNever(event, 'key event');
  }
}

export const keyDecider: Decider<KeyState, KeyCommand, KeyEvent> = { initialState: initialKeyState, decide, evolve };
