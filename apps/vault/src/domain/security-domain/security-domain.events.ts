import { v, type EventRegistry, type PublishContext } from '#libs/kernel';
import { ManagedHsmSecurityDomainActivatedV1 } from '#libs/contracts';

/**
 * The security domain of one Managed HSM pool (stream `managedhsm-sd-{vaultId}`: a purged
 * pool's name re-created is a new pool with a new domain). The domain key itself is stored
 * sealed by the crypto service under its root (`sealedKey`, base64) and is never published.
 */
export type SecurityDomainVia = 'download' | 'upload' | 'bootstrap';

export type ManagedHsmSecurityDomainActivated = {
  readonly type: 'ManagedHsmSecurityDomainActivated';
  readonly data: {
    readonly vaultId: string;
    readonly domainId: string;
    /** The domain key sealed by crypto (purpose bound to the pool), base64. */
    readonly sealedKey: string;
    readonly via: SecurityDomainVia;
    /** Quorum and share count of a download; null otherwise. */
    readonly required: number | null;
    readonly shares: number | null;
    readonly activated: number;
  };
};

export type SecurityDomainEvent = ManagedHsmSecurityDomainActivated;

export const securityDomainStreamId = (vaultId: string): string => `managedhsm-sd-${vaultId}`;

const seconds = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 0;
const quorum = (x: unknown): boolean => x === null || (Number.isInteger(x) && (x as number) >= 2 && (x as number) <= 10);

function poolIdentity(ctx: PublishContext): { vault: string; collection: null; name: string; version: null } {
  const o = ctx.object;
  if (!o || o.collection !== null) throw new Error('ManagedHsmSecurityDomainActivated appended without its pool identity (AppendOptions.object)');
  return { vault: o.vault, collection: null, name: o.vault, version: null };
}

export function registerSecurityDomainEvents(r: EventRegistry): EventRegistry {
  return r.define({
    type: 'ManagedHsmSecurityDomainActivated',
    schemaVersion: 1,
    validate: v.object({
      vaultId: v.nonEmpty,
      domainId: v.nonEmpty,
      sealedKey: v.nonEmpty,
      via: (x) => x === 'download' || x === 'upload' || x === 'bootstrap',
      required: quorum,
      shares: quorum,
      activated: seconds,
    }),
    contract: ManagedHsmSecurityDomainActivatedV1,
    // The sealed key stays in the store.
    publish: (d, ctx) => ({ ...poolIdentity(ctx), vaultId: d.vaultId, domainId: d.domainId, via: d.via, required: d.required, shares: d.shares, activated: d.activated }),
  });
}
