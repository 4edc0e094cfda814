import { assertNever, type Decider } from '#libs/eventstore';
import { badParameter, ErrorCode, serviceError } from './crypto.errors.js';
import type { KeyEvent } from './key.events.js';
import type { Attributes, KeyOp, KeyVersionData } from './key.model.js';

export interface KeyVersionState extends KeyVersionData {
  readonly updated: number;
}

export interface KeyState {
  /** Live versions by version id, in creation order. */
  readonly versions: ReadonlyMap<string, KeyVersionState>;
}

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
  | { readonly type: 'DestroyKey'; readonly data: { readonly destroyed: number } };

export function latestVersion(state: KeyState): KeyVersionState | undefined {
  let last: KeyVersionState | undefined;
  for (const v of state.versions.values()) last = v;
  return last;
}

/** The version a request names ('' = latest), or KeyNotFound. */
export function resolveVersion(state: KeyState, version: string): KeyVersionState {
  const found = version === '' ? latestVersion(state) : state.versions.get(version);
  if (!found) throw serviceError(ErrorCode.KeyNotFound, version === '' ? 'the key does not exist' : 'the key version does not exist');
  return found;
}

/** A fresh copy (events never share structure with the command that produced them). */
function copyVersion(v: KeyVersionData): KeyVersionData {
  return { ...v, keyOps: [...v.keyOps], publicKey: v.publicKey ? { ...v.publicKey } : null };
}

export const keyDecider: Decider<KeyState, KeyCommand, KeyEvent> = {
  initialState: () => ({ versions: new Map() }),

  decide(command, state) {
    switch (command.type) {
      case 'AddKeyVersion': {
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
        return { versions };
      }
      case 'KeyUpdated': {
        const current = state.versions.get(event.data.version);
        if (!current) return state;
        const versions = new Map(state.versions);
        const { version: _v, updated, ...changes } = event.data;
        versions.set(event.data.version, { ...current, ...changes, updated });
        return { versions };
      }
      case 'KeyDestroyed':
        return { versions: new Map() };
      default:
        return assertNever(event, 'event');
    }
  },
};
