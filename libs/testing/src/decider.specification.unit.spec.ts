import { AssertionError } from 'node:assert/strict';
import { describe, it, expect } from '@jest/globals';
import { DomainError, type Command, type Decider, type Event } from '#libs/kernel';
import { deciderSpec, deepFreeze } from './decider.specification.js';

// A small secret decider, enough to exercise the kit.
type SecretEvent =
  | Event<'SecretVersionCreated', { name: string; version: string; at: string }>
  | Event<'SecretDeleted', { name: string; at: string }>;
type SecretCommand = Command<'SetSecret', { name: string; version: string; now: string }> | Command<'DeleteSecret', { name: string; now: string }>;
type SecretState = { readonly status: 'none' | 'active' | 'deleted'; readonly versions: readonly string[] };

const secretDecider: Decider<SecretState, SecretCommand, SecretEvent> = {
  initialState: () => ({ status: 'none', versions: [] }),
  decide: (command, state) => {
    switch (command.type) {
      case 'SetSecret':
        if (state.status === 'deleted') throw new DomainError('ObjectIsDeletedButRecoverable', `secret ${command.data.name} is deleted`);
        return [{ type: 'SecretVersionCreated', data: { name: command.data.name, version: command.data.version, at: command.data.now } }];
      case 'DeleteSecret':
        if (state.status !== 'active') throw new DomainError('SecretNotFound', `secret ${command.data.name} not found`);
        return [{ type: 'SecretDeleted', data: { name: command.data.name, at: command.data.now } }];
    }
  },
  evolve: (state, event) => {
    switch (event.type) {
      case 'SecretVersionCreated':
        return { status: 'active', versions: [...state.versions, event.data.version] };
      case 'SecretDeleted':
        return { ...state, status: 'deleted' };
    }
  },
};

const now = '2026-01-01T00:00:00.000Z';
const created = (version: string): SecretEvent => ({ type: 'SecretVersionCreated', data: { name: 'db', version, at: now } });
const deleted: SecretEvent = { type: 'SecretDeleted', data: { name: 'db', at: now } };
const set = (version: string): SecretCommand => ({ type: 'SetSecret', data: { name: 'db', version, now } });
const del: SecretCommand = { type: 'DeleteSecret', data: { name: 'db', now } };

describe('deciderSpec: passing specs', () => {
  it('given events, when a command, then the expected events', () => {
    deciderSpec(secretDecider).given([created('v1')]).when(set('v2')).then([created('v2')]);
    deciderSpec(secretDecider).given([created('v1')]).when(del).then(deleted);
  });

  it('when without given starts from the initial state', () => {
    deciderSpec(secretDecider).when(set('v1')).then([created('v1')]);
  });

  it('thenThrows by DomainError code, class or predicate, and returns the error', () => {
    const err = deciderSpec(secretDecider).given([]).when(del).thenThrows('SecretNotFound');
    expect(err).toBeInstanceOf(DomainError);
    deciderSpec(secretDecider).given([created('v1'), deleted]).when(set('v2')).thenThrows(DomainError);
    deciderSpec(secretDecider).given([created('v1'), deleted]).when(set('v2')).thenThrows((e) => e instanceof DomainError && e.code === 'ObjectIsDeletedButRecoverable');
  });

  it('thenState folds the given and produced events', () => {
    deciderSpec(secretDecider).given([created('v1')]).when(set('v2')).thenState({ status: 'active', versions: ['v1', 'v2'] });
  });
});

describe('deciderSpec: failing specs explain themselves', () => {
  it('other events than expected', () => {
    expect(() => deciderSpec(secretDecider).given([created('v1')]).when(set('v2')).then([created('v3')])).toThrow(AssertionError);
  });

  it('events expected but decide threw', () => {
    expect(() => deciderSpec(secretDecider).when(del).then([deleted])).toThrow(/decide threw DomainError SecretNotFound/);
  });

  it('an error expected but decide produced events', () => {
    expect(() => deciderSpec(secretDecider).given([created('v1')]).when(del).thenThrows('SecretNotFound')).toThrow(/produced 1 event\(s\): \[SecretDeleted\]/);
  });

  it('a different error code than expected', () => {
    expect(() => deciderSpec(secretDecider).when(del).thenThrows('Forbidden')).toThrow(/expected DomainError Forbidden, got DomainError SecretNotFound/);
  });

  it('a decider that reads the clock is caught as non-deterministic', () => {
    let tick = 0;
    const clocked: Decider<SecretState, SecretCommand, SecretEvent> = {
      ...secretDecider,
      decide: (command) => [{ type: 'SecretVersionCreated', data: { name: command.data.name, version: 'v1', at: String(tick++) } }],
    };
    expect(() => deciderSpec(clocked).when(set('v1')).then([created('v1')])).toThrow(/not deterministic/);
  });

  it('an evolve that mutates its state is caught', () => {
    const mutating: Decider<{ versions: string[] }, SecretCommand, SecretEvent> = {
      initialState: () => ({ versions: [] }),
      decide: () => [],
      evolve: (state, event) => {
        if (event.type === 'SecretVersionCreated') state.versions.push(event.data.version);
        return state;
      },
    };
    expect(() => deciderSpec(mutating).given([created('v1')]).when(set('v2')).then([])).toThrow(/evolve mutated its input while applying SecretVersionCreated/);
  });

  it('a decide that mutates the command is caught', () => {
    const mutating: Decider<SecretState, SecretCommand, SecretEvent> = {
      ...secretDecider,
      decide: (command) => {
        (command.data as { name: string }).name = 'changed';
        return [];
      },
    };
    expect(() => deciderSpec(mutating).when(set('v1')).then([])).toThrow(/decide mutated its input/);
  });

  it('cannot be awaited by mistake', async () => {
    const spec = deciderSpec(secretDecider).when(set('v1'));
    // TypeScript already refuses `await spec`; a cast gets past it, the kit still refuses.
    await expect(Promise.resolve(spec as unknown as PromiseLike<unknown>)).rejects.toThrow(/synchronous: do not await/);
  });
});

describe('deepFreeze', () => {
  it('freezes nested plain data', () => {
    const o = deepFreeze({ a: { b: [1, { c: 2 }] } });
    expect(Object.isFrozen(o.a.b[1])).toBe(true);
  });

  it('a decider that passes the command data through into its event compares equal to an identical expected event', () => {
    type Renamed = Event<'Renamed', { name: string; tags: Record<string, string> }>;
    type Rename = Command<'Rename', { name: string; tags: Record<string, string> }>;
    const passThrough: Decider<null, Rename, Renamed> = {
      initialState: () => null,
      decide: (command) => [{ type: 'Renamed', data: command.data }],
      evolve: (state) => state,
    };
    deciderSpec(passThrough)
      .when({ type: 'Rename', data: { name: 'db', tags: { env: 'prod' } } })
      .then([{ type: 'Renamed', data: { name: 'db', tags: { env: 'prod' } } }]);
  });
});
