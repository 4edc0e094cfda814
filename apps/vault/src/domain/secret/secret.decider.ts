import { assertNever, DomainError, type Decider } from '#libs/kernel';
import { badParameter, deletedSecretNotFound, secretNotFound, VaultErrorCode } from '../vault.errors.js';
import type { DataKeyHandle, SecretEvent, SecretPurgeReason, SecretVersionRecord } from './secret.events.js';
import type { SecretAttributesInput, Tags, UpdateSecretInput } from './secret.rules.js';

/** Attributes of one version as the decider needs them. */
export type SecretVersionState = {
  readonly contentType: string | null;
  readonly tags: Tags | null;
  readonly enabled: boolean;
  readonly nbf: number | null;
  readonly exp: number | null;
  readonly created: number;
  readonly updated: number;
};

/**
 * What one secret's commands are decided on. Loaded either by folding the stream or from the
 * read model (which the same transaction keeps in step); in the latter case `versions` holds
 * only the versions the command refers to (the latest, and the one an update names).
 */
export type SecretState = {
  readonly status: 'absent' | 'active' | 'deleted';
  readonly name: string | null;
  readonly managed: boolean;
  readonly latest: string | null;
  /** The data key new versions are sealed with (one per secret incarnation). */
  readonly dataKey: DataKeyHandle | null;
  /** Every data key any version uses: what a purge destroys. */
  readonly dataKeys: readonly DataKeyHandle[];
  readonly versions: Readonly<Record<string, SecretVersionState>>;
  readonly deletedDate: number | null;
  readonly scheduledPurgeDate: number | null;
};

export const initialSecretState = (): SecretState => ({
  status: 'absent',
  name: null,
  managed: false,
  latest: null,
  dataKey: null,
  dataKeys: [],
  versions: {},
  deletedDate: null,
  scheduledPurgeDate: null,
});

export type SealedValue = { readonly ciphertext: string; readonly keyId: string; readonly keyRef: string };

export type SetSecret = {
  readonly type: 'SetSecret';
  readonly data: {
    readonly vaultId: string;
    readonly name: string;
    readonly version: string;
    readonly now: number;
    readonly managed: boolean;
    readonly sealed: SealedValue;
    readonly contentType: string | null;
    readonly tags: Tags | null;
    readonly attributes: SecretAttributesInput;
  };
};
export type UpdateSecret = { readonly type: 'UpdateSecret'; readonly data: { readonly name: string; readonly version: string; readonly now: number; readonly patch: UpdateSecretInput } };
export type DeleteSecret = { readonly type: 'DeleteSecret'; readonly data: { readonly name: string; readonly now: number; readonly retentionDays: number; readonly byCertificate?: boolean } };
export type RecoverSecret = { readonly type: 'RecoverSecret'; readonly data: { readonly name: string; readonly now: number } };
export type PurgeSecret = {
  readonly type: 'PurgeSecret';
  readonly data: { readonly name: string; readonly now: number; readonly reason: SecretPurgeReason; readonly purgeProtection: boolean };
};
export type RestoreSecret = {
  readonly type: 'RestoreSecret';
  readonly data: { readonly vaultId: string; readonly name: string; readonly now: number; readonly managed: boolean; readonly versions: readonly SecretVersionRecord[] };
};

export type SecretCommand = SetSecret | UpdateSecret | DeleteSecret | RecoverSecret | PurgeSecret | RestoreSecret;

/** Can a new version be written? Checked before a data key is fetched, and again by decide. */
export function assertCanSet(state: SecretState, name: string): void {
  if (state.status === 'deleted') {
    throw new DomainError(VaultErrorCode.SecretIsDeletedButRecoverable, `secret ${name} is deleted but recoverable`, { name: state.name ?? name });
  }
}

const DAY = 86_400;

/** Events own their data: nothing of a command object is shared with them. */
const copyTags = (tags: Tags | null): Tags | null => (tags === null ? null : { ...tags });

function decide(command: SecretCommand, state: SecretState): readonly SecretEvent[] {
  switch (command.type) {
    case 'SetSecret': {
      const c = command.data;
      assertCanSet(state, c.name);
      // A certificate's secret takes new versions from the certificate only.
      if (state.managed && !c.managed) throw new DomainError(VaultErrorCode.SecretManaged, `secret ${c.name} is managed by a certificate`, { name: c.name });
      const a = c.attributes;
      return [
        {
          type: 'SecretVersionCreated',
          data: {
            vaultId: c.vaultId,
            name: state.name ?? c.name,
            managed: c.managed,
            version: c.version,
            ciphertext: c.sealed.ciphertext,
            keyId: c.sealed.keyId,
            keyRef: c.sealed.keyRef,
            contentType: c.contentType,
            tags: copyTags(c.tags),
            enabled: a.enabled ?? true,
            nbf: a.nbf ?? null,
            exp: a.exp ?? null,
            created: c.now,
            updated: c.now,
          },
        },
      ];
    }
    case 'UpdateSecret': {
      const c = command.data;
      if (state.status !== 'active') throw secretNotFound(c.name);
      const current = state.versions[c.version];
      if (current === undefined) throw secretNotFound(c.name);
      const p = c.patch;
      const nbf = p.attributes.nbf === undefined ? current.nbf : p.attributes.nbf;
      const exp = p.attributes.exp === undefined ? current.exp : p.attributes.exp;
      if (nbf !== null && exp !== null && exp < nbf) throw badParameter("Property 'attributes.exp' must not be before 'attributes.nbf'.", { reason: 'Attributes' });
      return [
        {
          type: 'SecretVersionUpdated',
          data: {
            version: c.version,
            contentType: p.contentType === undefined ? current.contentType : p.contentType,
            tags: copyTags(p.tags === undefined ? current.tags : p.tags),
            enabled: p.attributes.enabled ?? current.enabled,
            nbf,
            exp,
            updated: c.now,
          },
        },
      ];
    }
    case 'DeleteSecret': {
      const c = command.data;
      if (state.status !== 'active') throw secretNotFound(c.name);
      if (state.managed && c.byCertificate !== true) throw new DomainError(VaultErrorCode.SecretManaged, `secret ${c.name} is managed by a certificate`, { name: c.name });
      return [{ type: 'SecretDeleted', data: { deletedDate: c.now, scheduledPurgeDate: c.now + c.retentionDays * DAY } }];
    }
    case 'RecoverSecret': {
      const c = command.data;
      if (state.status !== 'deleted') throw secretNotFound(c.name);
      return [{ type: 'SecretRecovered', data: { recoveredDate: c.now } }];
    }
    case 'PurgeSecret': {
      const c = command.data;
      if (c.reason === 'vault-purged') {
        if (state.status === 'absent') return [];
      } else {
        if (state.status !== 'deleted') throw deletedSecretNotFound(c.name);
        const due = state.scheduledPurgeDate !== null && state.scheduledPurgeDate <= c.now;
        if (c.reason === 'scheduled' && !due) return [];
        if (c.reason === 'request' && c.purgeProtection && !due) {
          throw new DomainError(VaultErrorCode.PurgeProtected, `secret ${c.name} cannot be purged while purge protection holds it`, { name: c.name });
        }
      }
      return [{ type: 'SecretPurged', data: { purgedDate: c.now, reason: c.reason, dataKeys: Array.from(state.dataKeys, (k) => ({ ...k })) } }];
    }
    case 'RestoreSecret': {
      const c = command.data;
      if (state.status !== 'absent') throw new DomainError(VaultErrorCode.SecretRestoreConflict, `secret ${c.name} already exists`, { name: c.name });
      if (c.versions.length === 0) throw new DomainError(VaultErrorCode.MalformedBackup, 'the backup holds no versions');
      const versions = Array.from(c.versions, (v) => ({ ...v, tags: copyTags(v.tags) }));
      return [{ type: 'SecretRestored', data: { vaultId: c.vaultId, name: c.name, managed: c.managed, restoredDate: c.now, versions } }];
    }
    default:
      return assertNever(command, 'secret command');
  }
}

const versionState = (r: SecretVersionRecord): SecretVersionState => ({
  contentType: r.contentType,
  tags: r.tags,
  enabled: r.enabled,
  nbf: r.nbf,
  exp: r.exp,
  created: r.created,
  updated: r.updated,
});

function withKey(keys: readonly DataKeyHandle[], key: DataKeyHandle): readonly DataKeyHandle[] {
  return keys.some((k) => k.keyId === key.keyId) ? keys : [...keys, key];
}

function evolve(state: SecretState, event: SecretEvent): SecretState {
  switch (event.type) {
    case 'SecretVersionCreated': {
      const e = event.data;
      const key = { keyId: e.keyId, keyRef: e.keyRef };
      return {
        ...state,
        status: 'active',
        name: state.name ?? e.name,
        managed: e.managed,
        latest: e.version,
        dataKey: key,
        dataKeys: withKey(state.dataKeys, key),
        versions: { ...state.versions, [e.version]: versionState(e) },
      };
    }
    case 'SecretVersionUpdated': {
      const e = event.data;
      const current = state.versions[e.version];
      if (current === undefined) return state;
      const { version: _version, ...attrs } = e;
      return { ...state, versions: { ...state.versions, [e.version]: { ...current, ...attrs } } };
    }
    case 'SecretDeleted':
      return { ...state, status: 'deleted', deletedDate: event.data.deletedDate, scheduledPurgeDate: event.data.scheduledPurgeDate };
    case 'SecretRecovered':
      return { ...state, status: 'active', deletedDate: null, scheduledPurgeDate: null };
    case 'SecretPurged':
      return initialSecretState();
    case 'SecretRestored': {
      const e = event.data;
      const last = e.versions[e.versions.length - 1]!;
      let keys: readonly DataKeyHandle[] = [];
      const versions: Record<string, SecretVersionState> = {};
      for (const v of e.versions) {
        keys = withKey(keys, { keyId: v.keyId, keyRef: v.keyRef });
        versions[v.version] = versionState(v);
      }
      return {
        status: 'active',
        name: e.name,
        managed: e.managed,
        latest: last.version,
        dataKey: { keyId: last.keyId, keyRef: last.keyRef },
        dataKeys: keys,
        versions,
        deletedDate: null,
        scheduledPurgeDate: null,
      };
    }
    default:
      return assertNever(event, 'secret event');
  }
}

export const secretDecider: Decider<SecretState, SecretCommand, SecretEvent> = {
  initialState: initialSecretState,
  decide,
  evolve,
};
