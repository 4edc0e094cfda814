import { assertNever, DomainError } from '#libs/kernel';
import type { Tags } from '../key/key.rules.js';
import { VaultErrorCode } from '../vault.errors.js';
import type { CertificateEvent, CertificatePurgeReason, CertificateVersionRecord, PendingRecord } from './certificate.events.js';
import type { PolicyRecord } from './certificate.rules.js';

/** Stable codes of the certificates domain; the HTTP adapter maps each to Azure's answer (certificates.routes.ts). */
export const CertificateErrorCode = {
  CertificateNotFound: 'CertificateNotFound',
  DeletedCertificateNotFound: 'DeletedCertificateNotFound',
  PendingCertificateNotFound: 'PendingCertificateNotFound',
  CertificateIsDeletedButRecoverable: 'CertificateIsDeletedButRecoverable',
  CertificateOperationPending: 'CertificateOperationPending',
  CertificateRestoreConflict: 'CertificateRestoreConflict',
  CertificateMergeRefused: 'CertificateMergeRefused',
  CertificateIssuerNotFound: 'CertificateIssuerNotFound',
  CertificateIssuerUnreachable: 'CertificateIssuerUnreachable',
  CertificateInvalid: 'CertificateInvalid',
  CertificateKeyPolicyMismatch: 'CertificateKeyPolicyMismatch',
} as const;

export const certificateNotFound = (name: string): DomainError => new DomainError(CertificateErrorCode.CertificateNotFound, `certificate ${name} was not found`, { name });
export const deletedCertificateNotFound = (name: string): DomainError => new DomainError(CertificateErrorCode.DeletedCertificateNotFound, `deleted certificate ${name} was not found`, { name });
export const pendingNotFound = (name: string): DomainError => new DomainError(CertificateErrorCode.PendingCertificateNotFound, `pending certificate ${name} was not found`, { name });

/** One certificate, folded from its events (kept whole in the read model, rebuildable from the stream). */
export type CertificateState = {
  readonly status: 'absent' | 'active' | 'deleted';
  readonly name: string | null;
  readonly policy: PolicyRecord | null;
  /** The newest version, pending or not (what `GET /certificates/{name}/` answers). */
  readonly latest: string | null;
  readonly pending: PendingRecord | null;
  /** Oldest first. */
  readonly versions: readonly CertificateVersionRecord[];
  readonly deletedDate: number | null;
  readonly scheduledPurgeDate: number | null;
  /** The version a CertificateNearExpiry was last recorded for. */
  readonly nearExpiryNotified?: string | null;
};

export const initialCertificateState = (): CertificateState => ({ status: 'absent', name: null, policy: null, latest: null, pending: null, versions: [], deletedDate: null, scheduledPurgeDate: null, nearExpiryNotified: null });

const DAY_SECONDS = 86_400;

/** The newest version that has its certificate. */
export function latestIssued(state: CertificateState): CertificateVersionRecord | undefined {
  return [...state.versions].reverse().find((v) => v.cer !== null);
}

/** When a lifetime action of `type` is due for the latest issued version (unix seconds), or null. Pure. */
export function lifetimeActionDueAt(state: CertificateState, type: 'AutoRenew' | 'EmailContacts'): number | null {
  const v = latestIssued(state);
  if (!state.policy || !v || v.nbf === null || v.exp === null) return null;
  let due: number | null = null;
  for (const a of state.policy.lifetime_actions) {
    if (a.action.action_type !== type) continue;
    const at = a.trigger.lifetime_percentage !== undefined ? v.nbf + Math.floor(((v.exp - v.nbf) * a.trigger.lifetime_percentage) / 100) : v.exp - (a.trigger.days_before_expiry ?? 0) * DAY_SECONDS;
    due = due === null ? at : Math.min(due, at);
  }
  return due;
}

/** Is an AutoRenew due at `now`: active, its newest version issued (none pending) and past the trigger? Pure. */
export function renewalDue(state: CertificateState, now: number): boolean {
  if (state.status !== 'active' || state.pending?.status === 'inProgress') return false;
  const v = latestIssued(state);
  if (!v || v.version !== state.latest) return false;
  const at = lifetimeActionDueAt(state, 'AutoRenew');
  return at !== null && at <= now;
}

/** Is an EmailContacts notice due at `now` and not yet recorded for the newest issued version? Pure. */
export function nearExpiryDue(state: CertificateState, now: number): CertificateVersionRecord | undefined {
  if (state.status !== 'active') return undefined;
  const v = latestIssued(state);
  const at = lifetimeActionDueAt(state, 'EmailContacts');
  return v && at !== null && at <= now && state.nearExpiryNotified !== v.version ? v : undefined;
}

const DAY = 86_400;

export function versionOf(state: CertificateState, version: string | null): CertificateVersionRecord | undefined {
  const target = version ?? state.latest;
  return target === null ? undefined : state.versions.find((x) => x.version === target);
}

/** A new version (create or import) may start: not while deleted, not while another operation is in progress. */
export function assertCanStart(state: CertificateState, name: string): void {
  if (state.status === 'deleted') throw new DomainError(CertificateErrorCode.CertificateIsDeletedButRecoverable, `certificate ${name} is deleted but recoverable`, { name: state.name ?? name });
  if (state.pending?.status === 'inProgress') throw new DomainError(CertificateErrorCode.CertificateOperationPending, `certificate ${name} has a pending operation`, { name: state.name ?? name });
}

export function assertActive(state: CertificateState, name: string): void {
  if (state.status !== 'active') throw certificateNotFound(name);
}

export function assertPendingInProgress(state: CertificateState, name: string): PendingRecord {
  if (state.status !== 'active' || state.pending === null) throw pendingNotFound(name);
  return state.pending;
}

export function decideDelete(state: CertificateState, name: string, now: number, retentionDays: number): CertificateEvent[] {
  assertActive(state, name);
  return [{ type: 'CertificateDeleted', data: { deletedDate: now, scheduledPurgeDate: now + retentionDays * DAY } }];
}

export function decideRecover(state: CertificateState, name: string, now: number): CertificateEvent[] {
  if (state.status !== 'deleted') throw deletedCertificateNotFound(name);
  return [{ type: 'CertificateRecovered', data: { recoveredDate: now } }];
}

export function decidePurge(state: CertificateState, name: string, now: number, reason: CertificatePurgeReason, purgeProtection: boolean): CertificateEvent[] {
  if (reason === 'vault-purged') return state.status === 'absent' ? [] : [{ type: 'CertificatePurged', data: { purgedDate: now, reason } }];
  if (state.status !== 'deleted') throw deletedCertificateNotFound(name);
  const due = state.scheduledPurgeDate !== null && state.scheduledPurgeDate <= now;
  if (reason === 'scheduled' && !due) return [];
  if (reason === 'request' && purgeProtection && !due) throw new DomainError(VaultErrorCode.PurgeProtected, `certificate ${name} cannot be purged while purge protection holds it`, { name });
  return [{ type: 'CertificatePurged', data: { purgedDate: now, reason } }];
}

export function decideUpdate(state: CertificateState, name: string, version: string | null, patch: { enabled?: boolean; tags?: Tags | null }, now: number): CertificateEvent[] {
  assertActive(state, name);
  const current = versionOf(state, version);
  if (!current) throw certificateNotFound(version ? `${name}/${version}` : name);
  return [{ type: 'CertificateVersionUpdated', data: { version: current.version, enabled: patch.enabled ?? current.enabled, tags: patch.tags === undefined ? current.tags : patch.tags === null ? null : { ...patch.tags }, updated: now } }];
}

const withoutSealedKey = (p: PendingRecord): PendingRecord => {
  const { sealedKey: _s, ...rest } = p;
  return rest;
};

const withVersion = (versions: readonly CertificateVersionRecord[], version: string, f: (r: CertificateVersionRecord) => CertificateVersionRecord): CertificateVersionRecord[] =>
  versions.map((r) => (r.version === version ? f(r) : r));

export function evolveCertificate(state: CertificateState, event: CertificateEvent): CertificateState {
  switch (event.type) {
    case 'CertificatePolicySet':
      return { ...state, status: state.status === 'absent' ? 'active' : state.status, name: state.name ?? event.data.name, policy: event.data.policy };
    case 'CertificateOperationStarted':
      return { ...state, status: 'active', latest: event.data.record.version, pending: event.data.pending, versions: [...state.versions, event.data.record] };
    case 'CertificateIssued': {
      const d = event.data;
      const pending = state.pending && state.pending.version === d.version ? { ...withoutSealedKey(state.pending), status: 'completed' as const, statusDetails: '' } : state.pending;
      return { ...state, pending, versions: withVersion(state.versions, d.version, (r) => ({ ...r, cer: d.cer, x5t: d.x5t, enabled: d.enabled, nbf: d.nbf, exp: d.exp, updated: d.issued })) };
    }
    case 'CertificateOperationFailed': {
      const d = event.data;
      return state.pending && state.pending.version === d.version ? { ...state, pending: { ...state.pending, status: 'failed', statusDetails: d.message, error: { code: d.code, message: d.message } } } : state;
    }
    case 'CertificateOperationCancellationRequested':
      return state.pending && state.pending.version === event.data.version ? { ...state, pending: { ...withoutSealedKey(state.pending), cancellationRequested: true, status: 'cancelled' } } : state;
    case 'CertificateOperationDeleted': {
      // A version that never got its certificate goes with its operation.
      const gone = state.versions.find((r) => r.version === event.data.version && r.cer === null);
      const versions = gone ? state.versions.filter((r) => r !== gone) : state.versions;
      return { ...state, pending: null, versions, latest: versions.length > 0 ? versions[versions.length - 1]!.version : null };
    }
    case 'CertificateImported':
      return { ...state, status: 'active', latest: event.data.record.version, pending: null, versions: [...state.versions, event.data.record] };
    case 'CertificateVersionUpdated': {
      const d = event.data;
      return { ...state, versions: withVersion(state.versions, d.version, (r) => ({ ...r, enabled: d.enabled, tags: d.tags, updated: d.updated })) };
    }
    case 'CertificateDeleted':
      return { ...state, status: 'deleted', deletedDate: event.data.deletedDate, scheduledPurgeDate: event.data.scheduledPurgeDate };
    case 'CertificateRecovered':
      return { ...state, status: 'active', deletedDate: null, scheduledPurgeDate: null };
    case 'CertificatePurged':
      return initialCertificateState();
    case 'CertificateNearExpiry':
      return { ...state, nearExpiryNotified: event.data.version };
    case 'CertificateRestored': {
      const d = event.data;
      return { ...initialCertificateState(), status: 'active', name: d.name, policy: d.policy, versions: [...d.versions], latest: d.versions[d.versions.length - 1]!.version };
    }
    default:
      return assertNever(event, 'certificate event');
  }
}
