import { createCipheriv, createDecipheriv, generateKeyPairSync, randomBytes, randomUUID, type KeyObject, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import type { JWK } from 'jose';
import { CONFIG, DATABASE, type Database } from '#libs/platform';
import type { identitySchema } from '../config/identity.config.js';
import type { ConfigOf } from '#libs/platform';

type IdentityConfig = ConfigOf<typeof identitySchema>;
type KeyRow = { kid: string; alg: string; public_jwk: JWK; private_enc: Buffer; created_at: Date; active_until: Date; publish_until: Date };

export type SigningKey = { readonly kid: string; readonly alg: 'ES256'; readonly privateKey: KeyObject; readonly activeUntil: number };

/**
 * Token signing keys (ES256). One key signs until its rotation time; older keys stay in
 * the JWKS until every token they signed has expired. Private keys are stored encrypted
 * (AES-256-GCM, key id as AAD) under a key-encryption key that never enters the database.
 */
@Injectable()
export class SigningKeysService {
  private current: SigningKey | undefined;
  private readonly kek: Buffer;

  constructor(
    @Inject(DATABASE) private readonly db: Database,
    @Inject(CONFIG) private readonly config: IdentityConfig,
  ) {
    this.kek = loadKek(config);
  }

  async signingKey(): Promise<SigningKey> {
    const now = Date.now();
    if (this.current && this.current.activeUntil > now) return this.current;
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['identity:signing-keys']);
      const rows = await tx.query<KeyRow>(`SELECT * FROM ${this.db.schema}.signing_keys WHERE active_until > now() ORDER BY created_at DESC LIMIT 1`);
      let row = rows[0];
      if (!row) {
        const kid = randomUUID().replaceAll('-', '');
        const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const pub = publicKey.export({ format: 'jwk' }) as JWK;
        const priv = Buffer.from(privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
        const activeUntil = new Date(now + this.config.SIGNING_KEY_ROTATION_HOURS * 3600_000);
        const publishUntil = new Date(activeUntil.getTime() + (this.config.TOKEN_LIFETIME_SECONDS + 300) * 1000);
        const inserted = await tx.query<KeyRow>(
          `INSERT INTO ${this.db.schema}.signing_keys (kid, alg, public_jwk, private_enc, created_at, active_until, publish_until) VALUES ($1, 'ES256', $2, $3, now(), $4, $5) RETURNING *`,
          [kid, JSON.stringify({ ...pub, kid, alg: 'ES256', use: 'sig' }), this.seal(priv, kid), activeUntil, publishUntil],
        );
        priv.fill(0);
        row = inserted[0];
      }
      const pem = this.open(row.private_enc, row.kid);
      this.current = { kid: row.kid, alg: 'ES256', privateKey: createPrivateKey(pem), activeUntil: row.active_until.getTime() };
      pem.fill(0);
      return this.current;
    });
  }

  /** Public keys still valid for verification. */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.signingKey();
    const rows = await this.db.query<KeyRow>(`SELECT public_jwk FROM ${this.db.schema}.signing_keys WHERE publish_until > now() ORDER BY created_at DESC`);
    return { keys: rows.map((r) => r.public_jwk) };
  }

  private seal(plain: Buffer, kid: string): Buffer {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.kek, iv);
    c.setAAD(Buffer.from(`signing-key:${kid}`));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([Buffer.from([1]), iv, c.getAuthTag(), body]);
  }

  private open(sealed: Buffer, kid: string): Buffer {
    if (sealed[0] !== 1) throw new Error('unknown signing key format');
    const d = createDecipheriv('aes-256-gcm', this.kek, sealed.subarray(1, 13));
    d.setAAD(Buffer.from(`signing-key:${kid}`));
    d.setAuthTag(sealed.subarray(13, 29));
    return Buffer.concat([d.update(sealed.subarray(29)), d.final()]);
  }
}

function loadKek(config: IdentityConfig): Buffer {
  if (config.IDENTITY_SIGNING_KEK) {
    const k = Buffer.from(config.IDENTITY_SIGNING_KEK, 'base64');
    if (k.length !== 32) throw new Error('IDENTITY_SIGNING_KEK must be 32 bytes, base64');
    return k;
  }
  const file = join(config.KEYLEDGER_HOME, 'identity', 'signing.kek');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
}
