import { createHash, createPublicKey, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { CryptoError, CryptoErrorCode, type CallContext, type CryptoClient, type ObjectRef } from '#libs/crypto-client';
import type { Database } from '#libs/platform';
import type { CheckpointSigner } from '../../application/checkpoint-signer.js';

const PREFIX = 'crypto:';

type KeyRow = { key_id: string };

/**
 * Checkpoint signing key held by the crypto service: an EC P-256 key created once through
 * `CreateKey`, used through `Sign` (ES256 over the SHA-256 digest of the checkpoint). The
 * private key never leaves crypto; this side keeps the key's id (and its public JWK, for
 * offline verifiers) in `checkpoint_signing_keys`. Trust: a key id is trusted when crypto
 * itself returns its public key (`GetKey`) — a key row written into the audit database by
 * someone else names no key crypto holds.
 *
 * Key ids: `crypto:<vault>/<name>/<version>` for the ref in `keyRef`.
 */
export class CryptoCheckpointSigner implements CheckpointSigner {
  readonly provider = 'crypto';
  private current: { keyId: string; ref: Required<ObjectRef> } | undefined;
  private readonly trusted = new Map<string, KeyObject | null>();

  constructor(
    private readonly db: Database,
    private readonly crypto: CryptoClient,
    /** The key's place in crypto: tenant, vault and name (the version is chosen at creation). */
    private readonly keyRef: { readonly tenant: string; readonly vault: string; readonly name: string },
  ) {}

  static owns(keyId: string): boolean {
    return keyId.startsWith(PREFIX);
  }

  private ctx(operation: string): CallContext {
    return { tenantId: this.keyRef.tenant, objectId: 'keyledger-audit', operationName: operation, correlationId: randomUUID(), requestUri: `keyledger-audit://checkpoints/${this.keyRef.name}` };
  }

  private keyIdOf(ref: { vault: string; name: string; version: string }): string {
    return `${PREFIX}${ref.vault}/${ref.name}/${ref.version}`;
  }

  private refOf(keyId: string): Required<ObjectRef> | undefined {
    const m = /^crypto:([0-9a-z-]{1,127})\/([0-9a-z-]{1,127})\/([0-9a-f]{32})$/.exec(keyId);
    return m ? { tenant: this.keyRef.tenant, vault: m[1]!, collection: 'keys', name: m[2]!, version: m[3]! } : undefined;
  }

  async init(): Promise<void> {
    if (this.current) return;
    const s = this.db.schema;
    this.current = await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`audit-signing-key:${s}`]);
      const rows = await tx.query<KeyRow>(`SELECT key_id FROM ${s}.checkpoint_signing_keys WHERE provider = 'crypto' AND retired_at IS NULL ORDER BY created_at DESC`);
      for (const row of rows) {
        const ref = this.refOf(row.key_id);
        if (ref && ref.vault === this.keyRef.vault.toLowerCase() && ref.name === this.keyRef.name.toLowerCase() && (await this.trustedPublicKey(row.key_id))) return { keyId: row.key_id, ref };
      }
      const version = randomBytes(16).toString('hex');
      const created = await this.crypto.createKey({
        ctx: this.ctx('AuditCheckpointKeyCreate'),
        ref: { tenant: this.keyRef.tenant, vault: this.keyRef.vault, collection: 'keys', name: this.keyRef.name, version },
        kty: 'EC',
        crv: 'P-256',
        keyOps: ['sign', 'verify'],
        attributes: { enabled: true },
      });
      const ref = created.key.ref;
      const keyId = this.keyIdOf(ref);
      const publicKey = toPublicKey(created.key.key);
      this.trusted.set(keyId, publicKey);
      const jwk = { ...publicKey.export({ format: 'jwk' }), kid: keyId, alg: 'ES256', use: 'sig' };
      await tx.query(`INSERT INTO ${s}.checkpoint_signing_keys (key_id, provider, algorithm, public_jwk) VALUES ($1, 'crypto', 'ES256', $2::jsonb)`, [keyId, JSON.stringify(jwk)]);
      return { keyId, ref };
    });
  }

  async currentKeyId(): Promise<string> {
    await this.init();
    return this.current!.keyId;
  }

  async sign(input: Buffer): Promise<{ keyId: string; signature: Buffer }> {
    await this.init();
    const { keyId, ref } = this.current!;
    const digest = createHash('sha256').update(input).digest();
    const res = await this.crypto.sign({ ctx: this.ctx('AuditCheckpointSign'), ref, algorithm: 'ES256', value: digest });
    return { keyId, signature: res.result };
  }

  async trustedPublicKey(keyId: string): Promise<KeyObject | undefined> {
    if (this.trusted.has(keyId)) return this.trusted.get(keyId) ?? undefined;
    const ref = this.refOf(keyId);
    if (!ref) return undefined;
    try {
      const res = await this.crypto.getKey({ ctx: this.ctx('AuditCheckpointKeyGet'), ref });
      const key = toPublicKey(res.key.key);
      this.trusted.set(keyId, key);
      return key;
    } catch (err) {
      if (err instanceof CryptoError && err.code === CryptoErrorCode.KeyNotFound) {
        this.trusted.set(keyId, null);
        return undefined;
      }
      throw err; // crypto unreachable: not a verdict on the key
    }
  }

  async publicJwks(): Promise<Record<string, unknown>[]> {
    const rows = await this.db.query<KeyRow>(`SELECT key_id FROM ${this.db.schema}.checkpoint_signing_keys WHERE provider = 'crypto' ORDER BY created_at`);
    const out: Record<string, unknown>[] = [];
    for (const r of rows) {
      const key = await this.trustedPublicKey(r.key_id).catch(() => undefined);
      if (key) out.push({ ...key.export({ format: 'jwk' }), kid: r.key_id, alg: 'ES256', use: 'sig' });
    }
    return out;
  }
}

function toPublicKey(k: { kty: string; crv: string; x: Buffer; y: Buffer }): KeyObject {
  if (!k.kty.startsWith('EC') || k.crv !== 'P-256') throw new Error(`checkpoint key is ${k.kty} ${k.crv}, expected EC P-256`);
  return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: k.x.toString('base64url'), y: k.y.toString('base64url') }, format: 'jwk' });
}
