import { describe, expect, it } from '@jest/globals';
import { OperationsLostError, UnsyncedProgress, type ShardState } from './unsynced-progress.js';

const m = (entries: Record<string, number>): Map<string, number> => new Map(Object.entries(entries));
const marks = (index: string, term: number, seqNo: number) => new Map([[index, { term, seqNo }]]);
const states = (s: Record<string, ShardState>): Map<string, ShardState> => new Map(Object.entries(s));

describe('UnsyncedProgress (the indexer\'s progress waiting for an async translog sync)', () => {
  it('releases, in step order, the progress of the steps whose operations the shards persisted, merged per chain', () => {
    const p = new UnsyncedProgress();
    p.add('t', m({ a: 10, b: 3 }), marks('i1', 1, 40));
    p.add('t', m({ a: 20 }), marks('i1', 1, 60));
    p.add('t', m({ b: 9 }), marks('i1', 1, 80));
    expect(p.takeSynced('t', states({ i1: { term: 1, persisted: 39 } }))).toEqual(new Map());
    expect(p.size).toBe(3);
    expect(p.takeSynced('t', states({ i1: { term: 1, persisted: 70 } }))).toEqual(m({ a: 20, b: 3 }));
    expect(p.size).toBe(1);
    expect(p.indices()).toEqual(['i1']);
    expect(p.takeSynced('t', states({ i1: { term: 1, persisted: 80 } }))).toEqual(m({ b: 9 }));
    expect(p.size).toBe(0);
  });

  it('waits for every index a step wrote to (a month boundary splits a step over two indices)', () => {
    const p = new UnsyncedProgress();
    p.add('t', m({ a: 5 }), new Map([['i1', { term: 1, seqNo: 7 }], ['i2', { term: 1, seqNo: 2 }]]));
    expect(p.takeSynced('t', states({ i1: { term: 1, persisted: 7 }, i2: { term: 1, persisted: 1 } }))).toEqual(new Map());
    expect(p.takeSynced('t', states({ i1: { term: 1, persisted: 7 }, i2: { term: 1, persisted: 2 } }))).toEqual(m({ a: 5 }));
  });

  it('a shard that restarted (higher primary term) or an index gone: nothing is released, everything is forgotten', () => {
    const p = new UnsyncedProgress();
    p.add('t', m({ a: 10 }), marks('i1', 1, 40));
    // Positions reached again by other operations after a restart do not count as synced.
    expect(() => p.takeSynced('t', states({ i1: { term: 2, persisted: 90 } }))).toThrow(OperationsLostError);
    expect(p.size).toBe(0);
    p.add('t', m({ a: 10 }), marks('i1', 1, 40));
    expect(() => p.takeSynced('t', states({}))).toThrow(OperationsLostError);
    expect(p.size).toBe(0);
  });

  it('drops the synced progress of a generation a rebuild replaced instead of writing it to the new one', () => {
    const p = new UnsyncedProgress();
    p.add('old', m({ a: 10 }), marks('i1', 1, 4));
    p.add('new', m({ a: 3 }), marks('i2', 1, 2));
    expect(p.takeSynced('new', states({ i1: { term: 1, persisted: 4 }, i2: { term: 1, persisted: 2 } }))).toEqual(m({ a: 3 }));
    expect(p.size).toBe(0);
  });
});
