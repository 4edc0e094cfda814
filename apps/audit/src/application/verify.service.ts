import { verify as verifySignature, type KeyObject } from 'node:crypto';
import { counter } from '#libs/platform';
import { ChainVerifier, type BrokenLink } from '../domain/chain-verifier.js';
import { checkpointSigningInput, type SignedCheckpoint } from '../domain/checkpoint.js';
import { foldDigests, type LedgerEntry, type ProofStep } from '../domain/hash-chain.js';
import type { LedgerRepository } from '../adapters/persistence/ledger.repository.js';
import type { CheckpointSigner } from './checkpoint-signer.js';

export type VerifyRequest = {
  readonly chain: string;
  /** Ledger-time bounds (inclusive); the whole chain when omitted. */
  readonly from?: Date;
  readonly to?: Date;
  /** Start no earlier than this seq (with `from`, the later of the two). */
  readonly fromSeq?: number;
};

export type VerifyResult = {
  readonly ok: boolean;
  readonly chain: string;
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly records: number;
  readonly checkpoints: number;
  readonly head: { readonly seq: number; readonly hash: string } | null;
  /** True when the range starts after seq 1: its first link is checked against the stored hash before it. */
  readonly anchored: boolean;
  readonly brokenLink?: BrokenLink & { readonly recordIdSource?: 'ledger' | 'search-index' };
};

export type RecordProof = {
  readonly entry: Omit<LedgerEntry, 'record'>;
  /** Digests of the entries after the record up to the sealing checkpoint's head. */
  readonly path: readonly ProofStep[];
  readonly checkpoint: SignedCheckpoint | null;
  readonly publicKey: Record<string, unknown> | null;
  /** The record's own digest and link recompute, the path folds to the checkpoint's head hash, and its signature verifies. */
  readonly verified: boolean;
  readonly note?: string;
};

/** The chain at a glance: its head, the last signed checkpoint, and the verification of its latest stretch. */
export type ChainStatus = {
  readonly chain: string;
  readonly head: { readonly seq: number; readonly hash: string } | null;
  readonly lastCheckpoint: {
    readonly number: number;
    readonly headSeq: number;
    readonly headHash: string;
    readonly createdAt: string;
    readonly keyId: string;
    readonly algorithm: string;
    /** The checkpoint's signature against the trusted signing keys. */
    readonly signature: 'valid' | 'invalid' | 'untrusted-key';
  } | null;
  /** Who signs checkpoints now (`local` or `crypto`). */
  readonly signer: string;
  /** Records appended after the last checkpoint (not yet sealed). */
  readonly unsealedRecords: number;
  /** From the first record after the previous checkpoint to the head: the last checkpoint, its link to the one before and every record since. */
  readonly verification: VerifyResult & { readonly scope: 'since-previous-checkpoint' | 'whole-chain' };
};

/** Finds the id of a record that is gone from the ledger (the search index still has a copy). */
export type MissingRecordLookup = (chain: string, seq: number) => Promise<string | undefined>;

const verifications = counter('keyledger_audit_verifications_total', 'Chain verifications run, by result', ['result']);
const PAGE = 2_000;

export class VerifyService {
  constructor(
    private readonly ledger: LedgerRepository,
    private readonly signer: CheckpointSigner,
    private readonly lookupMissing?: MissingRecordLookup,
  ) {}

  async verify(req: VerifyRequest): Promise<VerifyResult> {
    const chain = req.chain;
    // Records keep arriving while we read (each audit API call is itself audited), so the read
    // order matters: checkpoints first, then the head, then entries capped at that head. Every
    // checkpoint read before the head names a seq at or below it, so a checkpoint beyond the
    // ledger's end means removed records, never a race with a new append.
    const allCheckpoints = await this.ledger.checkpointsInRange(chain, 0, Number.MAX_SAFE_INTEGER);
    const head = await this.ledger.head(chain);
    const range = await this.ledger.seqRange(chain, req.from, req.to);
    if (!head || !range || Math.max(range.fromSeq, req.fromSeq ?? 1) > range.toSeq) {
      verifications.inc({ result: 'ok' });
      return { ok: true, chain, fromSeq: range?.fromSeq ?? 0, toSeq: range?.toSeq ?? 0, records: 0, checkpoints: 0, head: head ? { seq: head.seq, hash: head.hash } : null, anchored: false };
    }
    const fromSeq = Math.max(range.fromSeq, req.fromSeq ?? 1);
    const toSeq = Math.min(range.toSeq, head.seq);
    const toHead = toSeq >= head.seq;
    const anchor = fromSeq > 1 ? await this.ledger.entryAt(chain, fromSeq - 1) : undefined;
    // Past toSeq only when the range ends at the head: one that names a seq the ledger no
    // longer has reveals removed tail records.
    const checkpoints = allCheckpoints.filter((c) => c.headSeq >= fromSeq && (toHead || c.headSeq <= toSeq));
    const first = checkpoints[0];
    const previousCheckpoint = first && first.number > 1 ? await this.ledger.checkpoint(chain, first.number - 1) : undefined;
    const keys = await this.trustedKeys([...checkpoints, ...(previousCheckpoint ? [previousCheckpoint] : [])]);
    const verifier = new ChainVerifier({
      chain,
      fromSeq,
      ...(anchor ? { anchorHash: anchor.hash } : {}),
      checkpoints,
      ...(previousCheckpoint ? { previousCheckpoint } : {}),
      checkSignature: (cp) => checkCheckpointSignature(cp, keys.get(cp.keyId)),
    });
    let broken: BrokenLink | undefined;
    for (let at = fromSeq; at <= toSeq && !broken; ) {
      const page = await this.ledger.entries(chain, at, toSeq, PAGE);
      if (page.length === 0) break;
      broken = verifier.feed(page);
      at = page[page.length - 1]!.seq + 1;
    }
    broken ??= verifier.finish(toHead ? { seq: head.seq, hash: head.hash } : undefined);
    if (!broken && !toHead && verifier.lastSeq < toSeq) {
      broken = { kind: 'RecordMissing', chain, seq: verifier.lastSeq + 1, recordId: null, reason: `records after seq ${verifier.lastSeq} up to seq ${toSeq} are missing` };
    }
    let brokenLink: VerifyResult['brokenLink'];
    if (broken) {
      brokenLink = { ...broken, ...(broken.recordId ? { recordIdSource: 'ledger' as const } : {}) };
      if (!broken.recordId && this.lookupMissing) {
        const id = await this.lookupMissing(chain, broken.seq).catch(() => undefined);
        if (id) brokenLink = { ...broken, recordId: id, recordIdSource: 'search-index', reason: `${broken.reason} (the search index names the record at seq ${broken.seq}: ${id})` };
      }
    }
    verifications.inc({ result: brokenLink ? 'broken' : 'ok' });
    return {
      ok: !brokenLink,
      chain,
      fromSeq,
      toSeq,
      records: verifier.records,
      checkpoints: verifier.checkpointsVerified,
      head: { seq: head.seq, hash: head.hash },
      anchored: fromSeq > 1,
      ...(brokenLink ? { brokenLink } : {}),
    };
  }

  /** The chain's status: cheap enough for every visit of a dashboard (it verifies the latest stretch only). */
  async status(chain: string): Promise<ChainStatus> {
    const last = await this.ledger.lastCheckpoint(chain);
    const previous = last && last.number > 1 ? await this.ledger.checkpoint(chain, last.number - 1) : undefined;
    // An idle checkpoint repeats the previous head: start at that head so the checkpoint is still checked.
    const fromSeq = last && previous ? Math.max(1, Math.min(previous.headSeq + 1, last.headSeq)) : 1;
    const verification = await this.verify({ chain, fromSeq });
    const signature = last ? checkCheckpointSignature(last, await this.signer.trustedPublicKey(last.keyId)) : undefined;
    return {
      chain,
      head: verification.head,
      lastCheckpoint:
        last && signature
          ? { number: last.number, headSeq: last.headSeq, headHash: last.headHash, createdAt: last.createdAt, keyId: last.keyId, algorithm: last.algorithm, signature }
          : null,
      signer: this.signer.provider,
      unsealedRecords: Math.max(0, (verification.head?.seq ?? 0) - (last?.headSeq ?? 0)),
      verification: { ...verification, scope: fromSeq > 1 ? 'since-previous-checkpoint' : 'whole-chain' },
    };
  }

  /** A record's chain proof: its entry, the digests up to the next signed checkpoint, that checkpoint and its key. */
  async proof(entry: LedgerEntry): Promise<RecordProof> {
    const cp = await this.ledger.checkpointCovering(entry.chain, entry.seq);
    const { record: _record, ...meta } = entry;
    void _record;
    if (!cp) {
      const head = await this.ledger.head(entry.chain);
      const path = head ? await this.ledger.proofSteps(entry.chain, entry.seq, head.seq) : [];
      return { entry: meta, path, checkpoint: null, publicKey: null, verified: false, note: 'not yet sealed by a signed checkpoint; the path runs to the current chain head' };
    }
    const path = await this.ledger.proofSteps(entry.chain, entry.seq, cp.headSeq);
    const key = await this.signer.trustedPublicKey(cp.keyId);
    const selfOk = new ChainVerifier({ chain: entry.chain, fromSeq: entry.seq, anchorHash: entry.prevHash, checkpoints: [], checkSignature: () => 'valid' }).feed([entry]) === undefined;
    const folded = foldDigests(entry.hash, path);
    const verified = selfOk && folded === cp.headHash && checkCheckpointSignature(cp, key) === 'valid';
    return { entry: meta, path, checkpoint: cp, publicKey: key ? (key.export({ format: 'jwk' }) as Record<string, unknown>) : null, verified };
  }

  private async trustedKeys(checkpoints: readonly SignedCheckpoint[]): Promise<Map<string, KeyObject | undefined>> {
    const keys = new Map<string, KeyObject | undefined>();
    for (const id of new Set(checkpoints.map((c) => c.keyId))) keys.set(id, await this.signer.trustedPublicKey(id));
    return keys;
  }
}

export function checkCheckpointSignature(cp: SignedCheckpoint, key: KeyObject | undefined): 'valid' | 'invalid' | 'untrusted-key' {
  if (!key) return 'untrusted-key';
  try {
    const sig = Buffer.from(cp.signature, 'base64url');
    if (sig.length !== 64) return 'invalid';
    return verifySignature('sha256', checkpointSigningInput(cp), { key, dsaEncoding: 'ieee-p1363' }, sig) ? 'valid' : 'invalid';
  } catch {
    return 'invalid';
  }
}
