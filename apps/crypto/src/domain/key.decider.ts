import { assertNever, type Decider } from '#libs/kernel';
import { badParameter, ErrorCode, serviceError } from './crypto.errors.js';
import type { KeyEvent } from './key.events.js';
import type { Attributes, KeyOp, KeyVersionData } from './key.model.js';

export interface KeyVersionState extends KeyVersionData {
  readonly updated: number;
}

export interface KeyState {
  /** Versions by version id, in creation order (all of them out of use while `deleted`). */
  readonly versions: ReadonlyMap<string, KeyVersionState>;
  /** Unix seconds of the soft delete; null while the key is live (or absent). */
  readonly deleted: number | null;
}

/** A version as a backup carries it (what events recorded, and its last update). */
export type RestoredVersion = KeyVersionState;

export type KeyCommand =
  | {
      readonly type: 'AddKeyVersion';
      readonly data: { readonly origin: 'generated' } | { readonly origin: 'imported'; readonly importedFrom: 'jwk' | 'byok' };
      readonly version: KeyVersionData;
    }
  | {
      readonly type: 'UpdateKeyVersion';
      readonly data: {
        /** '' = the latest version. */
        readonly version: string;
        /** null = unchanged. */
        readonly attributes: Pick<Attributes, 'enabled' | 'notBefore' | 'expires'> | null;
        /** null = unchanged. */
        readonly keyOps: readonly KeyOp[] | null;
        readonly updated: number;
      };
    }
  | { readonly type: 'DestroyKey'; readonly data: { readonly destroyed: number } }
  | { readonly type: 'DeleteKey'; readonly data: { readonly deleted: number } }
  | { readonly type: 'RecoverKey'; readonly data: { readonly recovered: number } }
  | {
      readonly type: 'RestoreKey';
      readonly data: { readonly versions: readonly RestoredVersion[]; readonly restored: number; readonly fromVault: string };
    };

export function latestVersion(state: KeyState): KeyVersionState | undefined {
  let last: KeyVersionState | undefined;
  for (const v of state.versions.values()) last = v;
  return last;
}

/** The version a request names ('' = latest), or KeyNotFound (also while the key is deleted). */
export function resolveVersion(state: KeyState, version: string): KeyVersionState {
  if (state.deleted !== null) throw serviceError(ErrorCode.KeyNotFound, 'the key is deleted');
  const found = version === '' ? latestVersion(state) : state.versions.get(version);
  if (!found) throw serviceError(ErrorCode.KeyNotFound, version === '' ? 'the key does not exist' : 'the key version does not exist');
  return found;
}

/** A fresh copy (events never share structure with the command that produced them). */
function copyVersion(v: KeyVersionData): KeyVersionData {
  return { ...v, keyOps: [...v.keyOps], publicKey: v.publicKey ? { ...v.publicKey } : null };
}

export const keyDecider: Decider<KeyState, KeyCommand, KeyEvent> = {
  initialState: () => ({ versions: new Map(), deleted: null }),

  decide(command, state) {
    switch (command.type) {
      case 'AddKeyVersion': {
        if (state.deleted !== null) throw serviceError(ErrorCode.KeyConflict, 'the key is deleted; recover or purge it before adding a version');
        if (state.versions.has(command.version.version)) throw badParameter('a version with this id already exists for the key', { field: 'ref.version' });
        const data = copyVersion(command.version);
        if (command.data.origin === 'imported') return [{ type: 'KeyImported', data: { ...data, importedFrom: command.data.importedFrom } }];
        return [{ type: state.versions.size === 0 ? 'KeyCreated' : 'KeyVersionAdded', data }];
      }
      case 'UpdateKeyVersion': {
        const current = resolveVersion(state, command.data.version);
        const a = command.data.attributes;
        return [
          {
            type: 'KeyUpdated',
            data: {
              version: current.version,
              enabled: a ? a.enabled : current.enabled,
              notBefore: a ? a.notBefore : current.notBefore,
              expires: a ? a.expires : current.expires,
              keyOps: [...(command.data.keyOps ?? current.keyOps)],
              updated: command.data.updated,
            },
          },
        ];
      }
      case 'DestroyKey': {
        if (state.versions.size === 0) throw serviceError(ErrorCode.KeyNotFound, 'the key does not exist');
        return [{ type: 'KeyDestroyed', data: { versions: [...state.versions.keys()], destroyed: command.data.destroyed } }];
      }
      case 'DeleteKey': {
        if (state.versions.size === 0 || state.deleted !== null) throw serviceError(ErrorCode.KeyNotFound, 'the key does not exist');
        return [{ type: 'KeyDeleted', data: { versions: [...state.versions.keys()], deleted: command.data.deleted } }];
      }
      case 'RecoverKey': {
        if (state.versions.size === 0 || state.deleted === null) throw serviceError(ErrorCode.KeyNotFound, 'there is no deleted key with this name');
        return [{ type: 'KeyRecovered', data: { versions: [...state.versions.keys()], recovered: command.data.recovered } }];
      }
      case 'RestoreKey': {
        if (state.versions.size > 0) {
          throw serviceError(ErrorCode.KeyConflict, state.deleted !== null ? 'a deleted key with this name exists; purge or recover it first' : 'a key with this name already exists');
        }
        if (command.data.versions.length === 0) throw badParameter('the backup holds no key version', { field: 'blob' });
        const seen = new Set<string>();
        return command.data.versions.map((v) => {
          if (seen.has(v.version)) throw badParameter('the backup names a version twice', { field: 'blob' });
          seen.add(v.version);
          return { type: 'KeyRestored' as const, data: { ...copyVersion(v), updated: v.updated, restored: command.data.restored, restoredFromVault: command.data.fromVault } };
        });
      }
      default:
        return assertNever(command, 'command');
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'KeyCreated':
      case 'KeyVersionAdded':
      case 'KeyImported': {
        const versions = new Map(state.versions);
        const { importedFrom: _from, ...data } = event.data as KeyVersionData & { importedFrom?: string };
        versions.set(event.data.version, { ...data, updated: event.data.created });
        return { versions, deleted: state.deleted };
      }
      case 'KeyRestored': {
        const versions = new Map(state.versions);
        const { restored: _at, restoredFromVault: _from, ...data } = event.data;
        versions.set(event.data.version, data);
        return { versions, deleted: null };
      }
      case 'KeyUpdated': {
        const current = state.versions.get(event.data.version);
        if (!current) return state;
        const versions = new Map(state.versions);
        const { version: _v, updated, ...changes } = event.data;
        versions.set(event.data.version, { ...current, ...changes, updated });
        return { versions, deleted: state.deleted };
      }
      case 'KeyDestroyed':
        return { versions: new Map(), deleted: null };
      case 'KeyDeleted':
        return { versions: state.versions, deleted: event.data.deleted };
      case 'KeyRecovered':
        return { versions: state.versions, deleted: null };
      default:
        return assertNever(event, 'event');
    }
  },
};
