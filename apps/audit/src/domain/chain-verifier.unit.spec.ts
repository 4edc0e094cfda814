import { generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { canonicalJson } from './canonical-json.js';
import { ChainVerifier, type BrokenLink } from './chain-verifier.js';
import { checkpointSigningInput, type CheckpointPayload, type SignedCheckpoint } from './checkpoint.js';
import { entryDigest, foldDigests, GENESIS_HASH, linkHash, nextEntry, type LedgerEntry } from './hash-chain.js';
import { sampleRecord } from './audit-test.fixtures.js';

const CHAIN = 'tenant-a';
const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });

function chainOf(n: number): LedgerEntry[] {
  const out: LedgerEntry[] = [];
  for (let i = 0; i < n; i++) {
    const r = sampleRecord({ n: i, id: `rec-${i + 1}` });
    out.push(nextEntry(out[i - 1], { chain: CHAIN, appendedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() }, r.id, canonicalJson(r)));
  }
  return out;
}

function checkpoints(entries: readonly LedgerEntry[], heads: readonly number[], key: KeyObject = keys.privateKey): SignedCheckpoint[] {
  const out: SignedCheckpoint[] = [];
  let prev: SignedCheckpoint | undefined;
  for (const [i, head] of heads.entries()) {
    const e = entries[head - 1]!;
    const payload: CheckpointPayload = {
      version: 1,
      chain: CHAIN,
      number: i + 1,
      headSeq: head,
      headHash: e.hash,
      count: head,
      fromSeq: (prev?.headSeq ?? 0) + 1,
      fromTime: null,
      toTime: null,
      createdAt: new Date(Date.UTC(2026, 0, 2, 0, i)).toISOString(),
      previousSignature: prev?.signature ?? null,
      keyId: 'k1',
      algorithm: 'ES256',
    };
    prev = { ...payload, signature: sign('sha256', checkpointSigningInput(payload), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url') };
    out.push(prev);
  }
  return out;
}

const checkSignature = (cp: SignedCheckpoint) => {
  if (cp.keyId !== 'k1') return 'untrusted-key' as const;
  return verify('sha256', checkpointSigningInput(cp), { key: keys.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(cp.signature, 'base64url')) ? ('valid' as const) : ('invalid' as const);
};

function run(entries: readonly LedgerEntry[], cps: readonly SignedCheckpoint[] = [], head?: { seq: number; hash: string }): { broken: BrokenLink | undefined; verifier: ChainVerifier } {
  const verifier = new ChainVerifier({ chain: CHAIN, fromSeq: 1, checkpoints: cps, checkSignature });
  const broken = verifier.feed(entries) ?? verifier.finish(head);
  return { broken, verifier };
}

describe('hash chain', () => {
  it('links each entry to the previous hash, starting from the genesis hash', () => {
    const [a, b] = chainOf(2);
    expect(a!.prevHash).toBe(GENESIS_HASH);
    expect(a!.hash).toBe(linkHash(GENESIS_HASH, entryDigest(a!, a!.record)));
    expect(b!.prevHash).toBe(a!.hash);
    expect(b!.seq).toBe(2);
  });

  it('lets a proof fold entry digests from a record to a later head', () => {
    const entries = chainOf(6);
    const path = entries.slice(2).map((e) => ({ seq: e.seq, entryDigest: e.entryDigest }));
    expect(foldDigests(entries[1]!.hash, path)).toBe(entries[5]!.hash);
  });
});

describe('ChainVerifier', () => {
  it('accepts an intact chain with its signed checkpoints', () => {
    const entries = chainOf(10);
    const { broken, verifier } = run(entries, checkpoints(entries, [4, 8, 10]), { seq: 10, hash: entries[9]!.hash });
    expect(broken).toBeUndefined();
    expect(verifier.records).toBe(10);
    expect(verifier.checkpointsVerified).toBe(3);
  });

  it('names an altered record', () => {
    const entries = chainOf(6);
    const altered = entries.map((e) => (e.seq === 3 ? { ...e, record: e.record.replace('"Success"', '"Failure"') } : e));
    expect(run(altered).broken).toMatchObject({ kind: 'RecordAltered', seq: 3, recordId: 'rec-3' });
  });

  it('names an altered record even when its digest and hash were recomputed (the next link breaks)', () => {
    const entries = chainOf(6);
    const e3 = entries[2]!;
    const record = e3.record.replace('"Success"', '"Failure"');
    const digest = entryDigest(e3, record);
    const forged = { ...e3, record, entryDigest: digest, hash: linkHash(e3.prevHash, digest) };
    const broken = run(entries.map((e) => (e.seq === 3 ? forged : e))).broken;
    expect(broken).toMatchObject({ kind: 'LinkBroken', seq: 4, recordId: 'rec-3' });
  });

  it('detects a deleted record and says which seq is missing', () => {
    const entries = chainOf(6).filter((e) => e.seq !== 4);
    expect(run(entries).broken).toMatchObject({ kind: 'RecordMissing', seq: 4, recordId: null });
  });

  it('detects reordered entries (seqs swapped) and names the first of them', () => {
    const entries = chainOf(6);
    const swapped = entries.map((e) => (e.seq === 3 ? { ...entries[3]!, seq: 3 } : e.seq === 4 ? { ...entries[2]!, seq: 4 } : e));
    expect(run(swapped).broken).toMatchObject({ kind: 'RecordAltered', seq: 3, recordId: 'rec-4' });
  });

  it('detects records removed from the end through the chain head or a checkpoint', () => {
    const entries = chainOf(8);
    expect(run(entries.slice(0, 6), [], { seq: 8, hash: entries[7]!.hash }).broken).toMatchObject({ kind: 'RecordMissing', seq: 7 });
    expect(run(entries.slice(0, 6), checkpoints(entries, [8])).broken).toMatchObject({ kind: 'RecordMissing', seq: 7, checkpoint: 1 });
  });

  it('detects a forged checkpoint signature', () => {
    const entries = chainOf(6);
    const cps = checkpoints(entries, [3, 6]);
    const sig = Buffer.from(cps[1]!.signature, 'base64url');
    sig[10] = (sig[10]! + 1) % 256;
    expect(run(entries, [cps[0]!, { ...cps[1]!, signature: sig.toString('base64url') }]).broken).toMatchObject({ kind: 'CheckpointSignatureInvalid', checkpoint: 2, seq: 6, recordId: 'rec-6' });
  });

  it('detects a checkpoint re-signed with a key the verifier does not trust', () => {
    const entries = chainOf(4);
    const forged = checkpoints(entries, [4], other.privateKey).map((c) => ({ ...c, keyId: 'attacker' }));
    expect(run(entries, forged).broken).toMatchObject({ kind: 'CheckpointKeyUntrusted' });
    const sameId = checkpoints(entries, [4], other.privateKey);
    expect(run(entries, sameId).broken).toMatchObject({ kind: 'CheckpointSignatureInvalid' });
  });

  it('detects a rewritten chain below a signed checkpoint, and a missing checkpoint', () => {
    const entries = chainOf(5);
    const cps = checkpoints(entries, [2, 5]);
    // Rewrite everything from seq 2 on, consistently: only the signed head reveals it.
    const rewritten: LedgerEntry[] = [entries[0]!];
    for (const e of entries.slice(1)) {
      const record = e.seq === 2 ? e.record.replace('"GET"', '"PUT"') : e.record;
      rewritten.push(nextEntry(rewritten[rewritten.length - 1], { chain: CHAIN, appendedAt: e.appendedAt }, e.recordId, record));
    }
    expect(run(rewritten, cps).broken).toMatchObject({ kind: 'CheckpointHeadMismatch', seq: 2, checkpoint: 1 });
    expect(run(entries, [cps[1]!]).broken).toBeUndefined();
    const three = checkpoints(entries, [2, 4, 5]);
    expect(run(entries, [three[0]!, three[2]!]).broken).toMatchObject({ kind: 'CheckpointSequenceBroken', checkpoint: 3 });
  });

  it('verifies a range anchored on the entry before it', () => {
    const entries = chainOf(8);
    const v = new ChainVerifier({ chain: CHAIN, fromSeq: 5, anchorHash: entries[3]!.hash, checkpoints: [], checkSignature });
    expect(v.feed(entries.slice(4)) ?? v.finish()).toBeUndefined();
    const bad = new ChainVerifier({ chain: CHAIN, fromSeq: 5, anchorHash: GENESIS_HASH, checkpoints: [], checkSignature });
    expect(bad.feed(entries.slice(4))).toMatchObject({ kind: 'LinkBroken', seq: 5 });
  });
});
