import { entryDigest, GENESIS_HASH, linkHash, type LedgerEntry } from './hash-chain.js';
import type { SignedCheckpoint } from './checkpoint.js';

export type BrokenLinkKind =
  /** The record, its position or its ledger time no longer matches the stored digest. */
  | 'RecordAltered'
  /** Sequence numbers jump: one or more records were removed. */
  | 'RecordMissing'
  /** An entry's previous-hash does not match the entry before it (reordered, replaced or re-chained). */
  | 'LinkBroken'
  /** The stored hash is not the hash of (previous hash, digest). */
  | 'HashMismatch'
  /** A checkpoint's signature does not verify. */
  | 'CheckpointSignatureInvalid'
  /** A checkpoint is signed by a key the verifier does not trust. */
  | 'CheckpointKeyUntrusted'
  /** Checkpoint numbers, counts or previous-signature links do not follow on. */
  | 'CheckpointSequenceBroken'
  /** A signed checkpoint names a head hash the ledger does not have at that seq. */
  | 'CheckpointHeadMismatch'
  /** The chain's head pointer disagrees with its last entry. */
  | 'HeadMismatch';

export type BrokenLink = {
  readonly kind: BrokenLinkKind;
  readonly chain: string;
  readonly seq: number;
  /** The record the break is attributed to (null when it is gone and nothing else names it). */
  readonly recordId: string | null;
  readonly checkpoint?: number;
  readonly reason: string;
};

export type SignatureVerdict = 'valid' | 'invalid' | 'untrusted-key';

export type ChainVerifierOptions = {
  readonly chain: string;
  /** First seq to verify (1 = from the genesis). */
  readonly fromSeq: number;
  /** Stored hash of entry fromSeq - 1 (ignored when fromSeq is 1). */
  readonly anchorHash?: string;
  /** Checkpoints whose head lies in the verified range, ordered by number. */
  readonly checkpoints: readonly SignedCheckpoint[];
  /** The checkpoint before the first of `checkpoints` (to check the previous-signature link), if any. */
  readonly previousCheckpoint?: SignedCheckpoint;
  readonly checkSignature: (checkpoint: SignedCheckpoint) => SignatureVerdict;
};

/**
 * Walks one chain in seq order (entries fed page by page) and reports the first broken link:
 * recomputes every digest and link hash, checks that seqs have no gaps, and checks each
 * signed checkpoint (signature by a trusted key, numbering, previous-signature link, count,
 * and that its head hash is the ledger's hash at that seq). Pure: no I/O.
 */
export class ChainVerifier {
  private expectedSeq: number;
  private prevHash: string;
  private prevRecordId: string | null = null;
  private nextCheckpoint = 0;
  private lastCheckpoint: SignedCheckpoint | undefined;
  private broken: BrokenLink | undefined;
  records = 0;
  checkpointsVerified = 0;

  constructor(private readonly o: ChainVerifierOptions) {
    this.expectedSeq = o.fromSeq;
    this.prevHash = o.fromSeq <= 1 ? GENESIS_HASH : (o.anchorHash ?? GENESIS_HASH);
    this.lastCheckpoint = o.previousCheckpoint;
  }

  get result(): BrokenLink | undefined {
    return this.broken;
  }

  get lastSeq(): number {
    return this.expectedSeq - 1;
  }

  get lastHash(): string {
    return this.prevHash;
  }

  /** Verifies the next entries (ascending seq); returns the first break found so far. */
  feed(entries: readonly LedgerEntry[]): BrokenLink | undefined {
    for (const e of entries) {
      if (this.broken) return this.broken;
      this.broken = this.checkEntry(e) ?? this.checkpointsUpTo(e.seq, e);
    }
    return this.broken;
  }

  /**
   * Ends the walk. `head` is the chain's head pointer when the range reaches it; checkpoints
   * beyond the last entry mean entries were removed from the end.
   */
  finish(head?: { readonly seq: number; readonly hash: string }): BrokenLink | undefined {
    if (this.broken) return this.broken;
    const last = this.expectedSeq - 1;
    const beyond = this.o.checkpoints[this.nextCheckpoint];
    if (beyond && beyond.headSeq > last) {
      return (this.broken = {
        kind: 'RecordMissing',
        chain: this.o.chain,
        seq: last + 1,
        recordId: null,
        checkpoint: beyond.number,
        reason: `signed checkpoint ${beyond.number} covers the chain up to seq ${beyond.headSeq}, but the ledger ends at seq ${last}: records were removed from the end`,
      });
    }
    this.broken = this.checkpointsUpTo(Number.MAX_SAFE_INTEGER, undefined);
    if (this.broken) return this.broken;
    if (head && (head.seq !== last || (last > 0 && head.hash !== this.prevHash))) {
      return (this.broken = {
        kind: head.seq > last ? 'RecordMissing' : 'HeadMismatch',
        chain: this.o.chain,
        seq: head.seq > last ? last + 1 : head.seq,
        recordId: head.seq > last ? null : this.prevRecordId,
        reason:
          head.seq > last
            ? `the chain head says seq ${head.seq}, but the ledger ends at seq ${last}: records were removed from the end`
            : `the chain head (seq ${head.seq}, hash ${head.hash.slice(0, 16)}…) does not match the last entry (seq ${last})`,
      });
    }
    return undefined;
  }

  private checkEntry(e: LedgerEntry): BrokenLink | undefined {
    const chain = this.o.chain;
    if (e.seq > this.expectedSeq) {
      const missing = e.seq - this.expectedSeq;
      return {
        kind: 'RecordMissing',
        chain,
        seq: this.expectedSeq,
        recordId: null,
        reason: `${missing === 1 ? `the record at seq ${this.expectedSeq} is` : `records at seq ${this.expectedSeq}..${e.seq - 1} are`} missing before record ${e.recordId} (seq ${e.seq})`,
      };
    }
    if (e.seq < this.expectedSeq) {
      return { kind: 'LinkBroken', chain, seq: e.seq, recordId: e.recordId, reason: `record ${e.recordId} has seq ${e.seq}, expected ${this.expectedSeq}: entries are out of order` };
    }
    const idInRecord = recordIdOf(e.record);
    const digest = entryDigest(e, e.record);
    if (digest !== e.entryDigest || idInRecord !== e.recordId) {
      return {
        kind: 'RecordAltered',
        chain,
        seq: e.seq,
        recordId: idInRecord === e.recordId ? e.recordId : (idInRecord ?? e.recordId),
        reason: `record ${e.recordId} (seq ${e.seq}) was altered: its content, position or ledger time no longer matches the digest it was chained with`,
      };
    }
    if (e.prevHash !== this.prevHash) {
      const previous = this.prevRecordId;
      return {
        kind: 'LinkBroken',
        chain,
        seq: e.seq,
        recordId: previous ?? e.recordId,
        reason: previous
          ? `record ${e.recordId} (seq ${e.seq}) does not follow record ${previous} (seq ${e.seq - 1}): its previous-hash differs, so record ${previous} was replaced or re-hashed, or the entries were reordered`
          : `record ${e.recordId} (seq ${e.seq}) does not follow its predecessor: its previous-hash differs (entries reordered or replaced)`,
      };
    }
    if (linkHash(e.prevHash, digest) !== e.hash) {
      return { kind: 'HashMismatch', chain, seq: e.seq, recordId: e.recordId, reason: `record ${e.recordId} (seq ${e.seq}) carries a hash that is not the hash of its link: the entry was altered` };
    }
    this.prevHash = e.hash;
    this.prevRecordId = e.recordId;
    this.expectedSeq = e.seq + 1;
    this.records++;
    return undefined;
  }

  /** Checks every checkpoint whose head is at or below `seq` (entry = the entry at `seq`, if just verified). */
  private checkpointsUpTo(seq: number, entry: LedgerEntry | undefined): BrokenLink | undefined {
    const list = this.o.checkpoints;
    while (this.nextCheckpoint < list.length && list[this.nextCheckpoint]!.headSeq <= seq) {
      const cp = list[this.nextCheckpoint]!;
      const problem = this.checkCheckpoint(cp, entry);
      if (problem) return problem;
      this.lastCheckpoint = cp;
      this.nextCheckpoint++;
      this.checkpointsVerified++;
    }
    return undefined;
  }

  private checkCheckpoint(cp: SignedCheckpoint, entry: LedgerEntry | undefined): BrokenLink | undefined {
    const chain = this.o.chain;
    const at = (kind: BrokenLinkKind, reason: string): BrokenLink => ({ kind, chain, seq: cp.headSeq, recordId: entry && entry.seq === cp.headSeq ? entry.recordId : null, checkpoint: cp.number, reason });
    const verdict = this.o.checkSignature(cp);
    if (verdict === 'untrusted-key') return at('CheckpointKeyUntrusted', `checkpoint ${cp.number} is signed with key ${cp.keyId}, which is not a trusted checkpoint key`);
    if (verdict === 'invalid') return at('CheckpointSignatureInvalid', `checkpoint ${cp.number} (head seq ${cp.headSeq}) has an invalid signature: the checkpoint or its signature was forged or altered`);
    if (cp.chain !== chain) return at('CheckpointSequenceBroken', `checkpoint ${cp.number} belongs to chain ${cp.chain}`);
    const prev = this.lastCheckpoint;
    if (prev) {
      if (cp.number !== prev.number + 1) return at('CheckpointSequenceBroken', `checkpoint ${cp.number} follows checkpoint ${prev.number}: checkpoints are missing`);
      if (cp.previousSignature !== prev.signature) return at('CheckpointSequenceBroken', `checkpoint ${cp.number} does not carry the signature of checkpoint ${prev.number}`);
      if (cp.headSeq < prev.headSeq) return at('CheckpointSequenceBroken', `checkpoint ${cp.number} moves the head back from seq ${prev.headSeq} to ${cp.headSeq}`);
    } else if (cp.number === 1 && cp.previousSignature !== null) {
      return at('CheckpointSequenceBroken', 'checkpoint 1 names a previous signature');
    }
    if (cp.count !== cp.headSeq) return at('CheckpointSequenceBroken', `checkpoint ${cp.number} counts ${cp.count} records for head seq ${cp.headSeq}`);
    const ledgerHash = entry && entry.seq === cp.headSeq ? entry.hash : cp.headSeq === this.expectedSeq - 1 ? this.prevHash : undefined;
    if (ledgerHash !== undefined && ledgerHash !== cp.headHash) {
      return at('CheckpointHeadMismatch', `signed checkpoint ${cp.number} records hash ${cp.headHash.slice(0, 16)}… at seq ${cp.headSeq}, but the ledger has ${ledgerHash.slice(0, 16)}…: the chain up to that record was rewritten`);
    }
    return undefined;
  }
}

function recordIdOf(canonical: string): string | null {
  try {
    const o = JSON.parse(canonical) as { id?: unknown };
    return typeof o.id === 'string' ? o.id : null;
  } catch {
    return null;
  }
}
