import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

/**
 * The audit ledger's hash chain. One chain per tenant (the audit topic's message key), each
 * entry numbered from 1 without gaps:
 *
 *   entryDigest = SHA-256("keyledger-audit-entry-v1\n" ‖ canonical({appendedAt, chain, seq}) ‖ "\n" ‖ canonical(record))
 *   hash        = SHA-256("keyledger-audit-chain-v1\n" ‖ prevHash ‖ "\n" ‖ entryDigest)
 *
 * with prevHash of entry 1 = 64 zeros. Hashes are lower-case hex. The two steps let a proof
 * carry only the digests of the entries between a record and a signed checkpoint: a verifier
 * recomputes the chain from the record to the checkpoint's head without seeing other records.
 * Position (chain, seq) and ledger time are inside the digest, so moving, renumbering or
 * re-timing an entry breaks it as surely as editing the record.
 */
export const GENESIS_HASH = '0'.repeat(64);
const ENTRY_DOMAIN = 'keyledger-audit-entry-v1\n';
const LINK_DOMAIN = 'keyledger-audit-chain-v1\n';

export type EntryPosition = {
  readonly chain: string;
  readonly seq: number;
  /** Ledger append time, ISO 8601 with milliseconds (UTC). */
  readonly appendedAt: string;
};

/** One stored link of a chain: what the ledger table holds. */
export type LedgerEntry = EntryPosition & {
  readonly recordId: string;
  /** Canonical JSON of the audit record, exactly the bytes that were hashed. */
  readonly record: string;
  readonly entryDigest: string;
  readonly prevHash: string;
  readonly hash: string;
};

export function sha256Hex(input: string): string {
  return createHash('sha256').update(input, 'utf8').digest('hex');
}

export function entryDigest(position: EntryPosition, canonicalRecord: string): string {
  return sha256Hex(`${ENTRY_DOMAIN}${canonicalJson({ appendedAt: position.appendedAt, chain: position.chain, seq: position.seq })}\n${canonicalRecord}`);
}

export function linkHash(prevHash: string, digest: string): string {
  return sha256Hex(`${LINK_DOMAIN}${prevHash}\n${digest}`);
}

/** Builds the next entry after `prev` (undefined: the chain's first entry). */
export function nextEntry(prev: { readonly seq: number; readonly hash: string } | undefined, position: Omit<EntryPosition, 'seq'>, recordId: string, canonicalRecord: string): LedgerEntry {
  const seq = (prev?.seq ?? 0) + 1;
  const prevHash = prev?.hash ?? GENESIS_HASH;
  const pos = { chain: position.chain, seq, appendedAt: position.appendedAt };
  const digest = entryDigest(pos, canonicalRecord);
  return { ...pos, recordId, record: canonicalRecord, entryDigest: digest, prevHash, hash: linkHash(prevHash, digest) };
}

/** A proof step: what a verifier needs of an entry it does not see in full. */
export type ProofStep = { readonly seq: number; readonly entryDigest: string };

/** Recomputes the chain hash from `startHash` over the digests (in seq order). */
export function foldDigests(startHash: string, steps: readonly ProofStep[]): string {
  let h = startHash;
  for (const s of steps) h = linkHash(h, s.entryDigest);
  return h;
}
