import { canonicalJson } from './canonical-json.js';

/**
 * A signed checkpoint of one chain, in the spirit of CloudTrail's digest files: the chain's
 * head (seq and hash) and record count at a moment, the ledger-time range of the records
 * added since the previous checkpoint, and that checkpoint's signature — so checkpoints form
 * a chain of their own and none can be removed or replaced unnoticed. Written every N
 * records, every M seconds, and also when the chain is idle.
 */
export type CheckpointPayload = {
  readonly version: 1;
  readonly chain: string;
  /** 1, 2, 3, … per chain. */
  readonly number: number;
  readonly headSeq: number;
  readonly headHash: string;
  /** Records in the chain up to and including the head (= headSeq: seqs have no gaps). */
  readonly count: number;
  /** First seq added since the previous checkpoint (headSeq + 1 when none was added). */
  readonly fromSeq: number;
  /** Ledger-time range of the records added since the previous checkpoint; null when idle. */
  readonly fromTime: string | null;
  readonly toTime: string | null;
  readonly createdAt: string;
  /** Base64url signature of the previous checkpoint; null for the first. */
  readonly previousSignature: string | null;
  readonly keyId: string;
  readonly algorithm: 'ES256';
};

export type SignedCheckpoint = CheckpointPayload & {
  /** Base64url IEEE P1363 (r‖s) ES256 signature over `checkpointSigningInput(payload)`. */
  readonly signature: string;
};

const DOMAIN = 'keyledger-audit-checkpoint-v1\n';

/** The exact bytes that are signed: a domain tag and the canonical JSON of the payload. */
export function checkpointSigningInput(p: CheckpointPayload): Buffer {
  const payload: CheckpointPayload = {
    version: p.version,
    chain: p.chain,
    number: p.number,
    headSeq: p.headSeq,
    headHash: p.headHash,
    count: p.count,
    fromSeq: p.fromSeq,
    fromTime: p.fromTime,
    toTime: p.toTime,
    createdAt: p.createdAt,
    previousSignature: p.previousSignature,
    keyId: p.keyId,
    algorithm: p.algorithm,
  };
  return Buffer.from(`${DOMAIN}${canonicalJson(payload)}`, 'utf8');
}
