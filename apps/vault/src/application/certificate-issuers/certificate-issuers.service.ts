import { randomBytes } from 'node:crypto';
import { seal, type ObjectIdentity } from '#libs/crypto-core';
import { auditMessage, insertOutbox, type EventStore } from '#libs/eventstore';
import { DomainError } from '#libs/kernel';
import type { Sql } from '#libs/platform';
import type { CertificateIssuersRepository, IssuerRow, SealedPassword } from '../../adapters/persistence/certificate-issuers.repository.js';
import type { VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { badParameter, VaultErrorCode } from '../../domain/vault.errors.js';
import { isBuiltInIssuer, issuerNameKey, type Contact, type IssuerInput } from '../../domain/certificate-issuer/issuer.rules.js';
import { callContextOf, type Caller } from '../access/caller.js';
import type { IssuerDirectory, IssuerResolution } from '../certificates/issuing-authority.port.js';
import type { ObjectRef, SecretKeyring } from '../keyring/secret-keyring.js';
import { decodeSkipToken, toPage, type Page } from '../secrets/paging.js';

/** An issuer as the API answers it: the account id, never the password. */
export type IssuerView = {
  readonly name: string;
  readonly provider: string;
  readonly accountId: string | null;
  readonly organization: IssuerRow['organization'];
  readonly enabled: boolean;
  readonly created: number;
  readonly updated: number;
};

/** The crypto-service object the data keys of a vault's issuer passwords belong to (a name no certificate can have). */
const PASSWORD_KEY_OBJECT = 'keyledger.issuers';

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

const issuerNotFound = (name: string): DomainError => new DomainError(VaultErrorCode.CertificateIssuerNotFound, 'Issuer not found', { name });
const contactsNotFound = (): DomainError => new DomainError(VaultErrorCode.ContactsNotFound, 'Contacts not found');

function view(row: IssuerRow): IssuerView {
  return { name: row.name, provider: row.provider, accountId: row.accountId, organization: row.organization, enabled: row.enabled, created: row.created, updated: row.updated };
}

/**
 * Certificate issuers and contacts of a vault (Azure's vault-level certificate settings), and
 * the directory that tells certificate creation how an issuer name is satisfied.
 *
 * Each write commits with the request's audit record in one transaction. An issuer's
 * password is sealed (AES-256-GCM) under a fresh data key from the crypto service and bound to
 * the issuer's identity, as secret values are; replacing or deleting it destroys that key
 * (crypto-shredding). It is never answered, logged, published or audited.
 */
export class CertificateIssuersService implements IssuerDirectory {
  constructor(
    private readonly store: EventStore,
    private readonly repo: CertificateIssuersRepository,
    private readonly keyring: SecretKeyring,
  ) {}

  // ---------- issuers ----------

  async get(vault: VaultRecord, name: string): Promise<IssuerView> {
    const row = await this.repo.find(vault.vaultId, issuerNameKey(name));
    if (!row) throw issuerNotFound(name);
    return view(row);
  }

  async list(vault: VaultRecord, skipToken: string | undefined, limit: number): Promise<Page<IssuerView>> {
    const rows = await this.repo.list(vault.vaultId, decodeSkipToken(skipToken), limit + 1);
    const page = toPage(rows, limit, (r) => r.nameKey);
    return { items: page.items.map(view), next: page.next };
  }

  /** PUT: creates or replaces the issuer (members absent from the request are unset). */
  async set(vault: VaultRecord, name: string, input: IssuerInput & { readonly provider: string }, caller: Caller): Promise<IssuerView> {
    if (isBuiltInIssuer(name)) throw badParameter(`The issuer name '${name}' is reserved for a built-in issuer.`, { reason: 'ReservedIssuerName' });
    const nameKey = issuerNameKey(name);
    const password = input.password !== undefined ? await this.sealPassword(vault, nameKey, input.password, caller) : null;
    let written: { row: IssuerRow; replaced: SealedPassword | null };
    try {
      written = await this.commit(caller, 200, async (tx) => {
        const existing = await this.repo.find(vault.vaultId, nameKey, tx, true);
        const now = nowSeconds();
        const row: IssuerRow = {
          vaultId: vault.vaultId,
          nameKey,
          name: existing?.name ?? name,
          provider: input.provider,
          accountId: input.accountId ?? null,
          password,
          organization: input.organization ? { id: input.organization.id, admin_details: input.organization.adminDetails } : null,
          enabled: input.enabled ?? true,
          created: existing?.created ?? now,
          updated: now,
        };
        await this.repo.upsert(tx, row);
        return { row, replaced: existing?.password ?? null };
      });
    } catch (err) {
      if (password) await this.destroyPassword(vault, password, caller);
      throw err;
    }
    if (written.replaced) await this.destroyPassword(vault, written.replaced, caller);
    return view(written.row);
  }

  /** PATCH: changes the members the request carries; credentials member by member. */
  async update(vault: VaultRecord, name: string, patch: IssuerInput, caller: Caller): Promise<IssuerView> {
    const nameKey = issuerNameKey(name);
    if (!(await this.repo.find(vault.vaultId, nameKey))) throw issuerNotFound(name);
    const password = patch.password !== undefined ? await this.sealPassword(vault, nameKey, patch.password, caller) : null;
    let written: { row: IssuerRow; replaced: SealedPassword | null };
    try {
      written = await this.commit(caller, 200, async (tx) => {
        const existing = await this.repo.find(vault.vaultId, nameKey, tx, true);
        if (!existing) throw issuerNotFound(name);
        const row: IssuerRow = {
          ...existing,
          provider: patch.provider ?? existing.provider,
          accountId: patch.accountId ?? existing.accountId,
          password: password ?? existing.password,
          organization: patch.organization ? { id: patch.organization.id, admin_details: patch.organization.adminDetails } : existing.organization,
          enabled: patch.enabled ?? existing.enabled,
          updated: nowSeconds(),
        };
        await this.repo.upsert(tx, row);
        return { row, replaced: password ? existing.password : null };
      });
    } catch (err) {
      if (password) await this.destroyPassword(vault, password, caller);
      throw err;
    }
    if (written.replaced) await this.destroyPassword(vault, written.replaced, caller);
    return view(written.row);
  }

  /** DELETE: removes the issuer (no soft delete, as in Azure) and answers what it was. */
  async delete(vault: VaultRecord, name: string, caller: Caller): Promise<IssuerView> {
    const nameKey = issuerNameKey(name);
    const removed = await this.commit(caller, 200, async (tx) => {
      const existing = await this.repo.find(vault.vaultId, nameKey, tx, true);
      if (!existing) throw issuerNotFound(name);
      await this.repo.remove(tx, vault.vaultId, nameKey);
      return existing;
    });
    if (removed.password) await this.destroyPassword(vault, removed.password, caller);
    return view(removed);
  }

  // ---------- contacts ----------

  async getContacts(vault: VaultRecord): Promise<readonly Contact[]> {
    const row = await this.repo.contacts(vault.vaultId);
    if (!row) throw contactsNotFound();
    return row.contacts;
  }

  async setContacts(vault: VaultRecord, contacts: readonly Contact[], caller: Caller): Promise<readonly Contact[]> {
    await this.commit(caller, 200, (tx) => this.repo.setContacts(tx, vault.vaultId, contacts, nowSeconds()));
    return contacts;
  }

  async deleteContacts(vault: VaultRecord, caller: Caller): Promise<readonly Contact[]> {
    const removed = await this.commit(caller, 200, async (tx) => {
      const row = await this.repo.deleteContacts(tx, vault.vaultId);
      if (!row) throw contactsNotFound();
      return row;
    });
    return removed.contacts;
  }

  // ---------- the directory certificate creation asks ----------

  /**
   * `Self`, `Unknown` and `Keyledger` are built in; a configured issuer is satisfied by its
   * provider: `Keyledger` by the built-in CA, any other (DigiCert, GlobalSign, …) cannot be
   * reached from a self-hosted vault.
   */
  async resolve(vaultId: string, issuerName: string): Promise<IssuerResolution> {
    const key = issuerNameKey(issuerName);
    if (key === 'self') return { kind: 'self' };
    if (key === 'unknown') return { kind: 'unknown' };
    if (key === 'keyledger') return { kind: 'keyledger' };
    const row = await this.repo.find(vaultId, key);
    if (!row) return { kind: 'not-found' };
    if (row.provider.toLowerCase() === 'keyledger') return { kind: 'keyledger' };
    return { kind: 'unreachable', provider: row.provider };
  }

  async contactsOf(vaultId: string): Promise<readonly Contact[]> {
    return (await this.repo.contacts(vaultId))?.contacts ?? [];
  }

  // ---------- internals ----------

  /** Runs the write and commits the request's audit record in the same transaction. */
  private async commit<T>(caller: Caller, status: number, work: (tx: Sql) => Promise<T>): Promise<T> {
    const audit = caller.audit;
    const result = await this.store.db.transaction(async (tx) => {
      const out = await work(tx);
      if (audit) await insertOutbox(tx, this.store.schema, [auditMessage(audit.forCommit(status), this.store.source)]);
      return out;
    });
    audit?.committed();
    return result;
  }

  private ref(vault: VaultRecord, keyRef: string): ObjectRef {
    return { tenant: vault.tenantId, vault: vault.nameKey, collection: 'certificates', name: PASSWORD_KEY_OBJECT, version: keyRef };
  }

  private identity(vault: VaultRecord, nameKey: string, keyRef: string): ObjectIdentity {
    return { tenant: vault.tenantId, vault: vault.nameKey, collection: 'certificates', name: `issuers/${nameKey}`, version: keyRef };
  }

  private async sealPassword(vault: VaultRecord, nameKey: string, password: string, caller: Caller): Promise<SealedPassword> {
    const keyRef = randomBytes(16).toString('hex');
    const generated = await this.keyring.generateDataKey(this.ref(vault, keyRef), callContextOf(caller));
    const plain = Buffer.from(password, 'utf8');
    try {
      const ciphertext = seal(generated.plaintext, generated.keyId, plain, this.identity(vault, nameKey, keyRef));
      return { ciphertext: ciphertext.toString('base64'), keyId: generated.keyId, keyRef };
    } finally {
      plain.fill(0);
      generated.plaintext.fill(0);
    }
  }

  /** Crypto-shredding of a replaced or deleted password. Best effort: the envelope itself is already gone from the table. */
  private async destroyPassword(vault: VaultRecord, sealed: SealedPassword, caller: Caller): Promise<void> {
    try {
      await this.keyring.destroyDataKeys(this.ref(vault, sealed.keyRef), [sealed.keyId], callContextOf(caller));
    } catch {
      // the key stays in the crypto service, opening nothing that is still stored
    }
  }
}
