import { Inject, Injectable } from '@nestjs/common';
import { DATABASE, type Database } from '#libs/platform';

export type AuthorizationCodeRow = {
  code_hash: string;
  tenant_id: string;
  client_id: string;
  object_id: string;
  redirect_uri: string;
  scope: string;
  nonce: string | null;
  code_challenge: string | null;
  expires_at: Date;
  redeemed_at: Date | null;
  family_id: string | null;
};
export type DeviceCodeRow = {
  device_code_hash: string;
  user_code: string;
  tenant_id: string;
  client_id: string;
  scope: string;
  interval_seconds: number;
  expires_at: Date;
  last_poll_at: Date | null;
  object_id: string | null;
  approved_at: Date | null;
  redeemed_at: Date | null;
};
export type RefreshTokenRow = {
  token_hash: string;
  family_id: string;
  tenant_id: string;
  client_id: string;
  object_id: string;
  scope: string;
  created_at: Date;
  expires_at: Date;
  rotated_at: Date | null;
  revoked_at: Date | null;
};
/** A sign-in session as the authorization endpoint checks it: with its user's current state. */
export type SignInSessionRow = {
  session_id: string;
  tenant_id: string;
  object_id: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  revoked_reason: string | null;
  /** The user is still enabled. */
  user_enabled: boolean;
  /** The user's password is the one the session began with. */
  password_current: boolean;
};

/**
 * The short-lived grants of interactive sign-in: authorization codes, device codes and refresh
 * tokens. Only SHA-256 hashes of codes and tokens are stored; every state change is one atomic
 * statement, so a code or token is redeemed at most once however many requests race.
 */
@Injectable()
export class SignInRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  private get s(): string {
    return this.db.schema;
  }

  async insertCode(row: Omit<AuthorizationCodeRow, 'redeemed_at' | 'family_id'>): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.s}.authorization_codes (code_hash, tenant_id, client_id, object_id, redirect_uri, scope, nonce, code_challenge, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [row.code_hash, row.tenant_id, row.client_id, row.object_id, row.redirect_uri, row.scope, row.nonce, row.code_challenge, row.expires_at],
    );
    if (Math.random() < 0.02) await this.db.query(`DELETE FROM ${this.s}.authorization_codes WHERE expires_at < now() - interval '1 day'`);
  }

  /** Marks the code redeemed (once) and returns it; undefined when it was redeemed before or never existed. */
  async redeemCode(codeHash: string, familyId: string): Promise<AuthorizationCodeRow | undefined> {
    return (
      await this.db.query<AuthorizationCodeRow>(
        `UPDATE ${this.s}.authorization_codes SET redeemed_at = now(), family_id = $2 WHERE code_hash = $1 AND redeemed_at IS NULL RETURNING *`,
        [codeHash, familyId],
      )
    )[0];
  }

  async code(codeHash: string): Promise<AuthorizationCodeRow | undefined> {
    return (await this.db.query<AuthorizationCodeRow>(`SELECT * FROM ${this.s}.authorization_codes WHERE code_hash = $1`, [codeHash]))[0];
  }

  async insertDeviceCode(row: Pick<DeviceCodeRow, 'device_code_hash' | 'user_code' | 'tenant_id' | 'client_id' | 'scope' | 'interval_seconds' | 'expires_at'>): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO ${this.s}.device_codes (device_code_hash, user_code, tenant_id, client_id, scope, interval_seconds, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1`,
      [row.device_code_hash, row.user_code, row.tenant_id, row.client_id, row.scope, row.interval_seconds, row.expires_at],
    );
    if (Math.random() < 0.02) await this.db.query(`DELETE FROM ${this.s}.device_codes WHERE expires_at < now() - interval '1 day'`);
    return rows.length === 1;
  }

  /** A device code still waiting for its user (not expired, not approved). */
  async pendingDeviceCode(userCode: string): Promise<DeviceCodeRow | undefined> {
    return (
      await this.db.query<DeviceCodeRow>(`SELECT * FROM ${this.s}.device_codes WHERE user_code = $1 AND approved_at IS NULL AND expires_at > now()`, [userCode])
    )[0];
  }

  async approveDeviceCode(userCode: string, objectId: string): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE ${this.s}.device_codes SET object_id = $2, approved_at = now() WHERE user_code = $1 AND approved_at IS NULL AND expires_at > now() RETURNING 1`,
      [userCode, objectId],
    );
    return rows.length === 1;
  }

  /** Records a poll; returns the row as it was before (its previous poll time). */
  async pollDeviceCode(deviceCodeHash: string): Promise<DeviceCodeRow | undefined> {
    return (
      await this.db.query<DeviceCodeRow>(
        `UPDATE ${this.s}.device_codes d SET last_poll_at = now() FROM ${this.s}.device_codes old WHERE d.device_code_hash = $1 AND old.device_code_hash = d.device_code_hash RETURNING old.*`,
        [deviceCodeHash],
      )
    )[0];
  }

  async redeemDeviceCode(deviceCodeHash: string): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE ${this.s}.device_codes SET redeemed_at = now() WHERE device_code_hash = $1 AND approved_at IS NOT NULL AND redeemed_at IS NULL AND expires_at > now() RETURNING 1`,
      [deviceCodeHash],
    );
    return rows.length === 1;
  }

  async insertRefreshToken(row: Omit<RefreshTokenRow, 'created_at' | 'rotated_at' | 'revoked_at'>): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.s}.refresh_tokens (token_hash, family_id, tenant_id, client_id, object_id, scope, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, now(), $7)`,
      [row.token_hash, row.family_id, row.tenant_id, row.client_id, row.object_id, row.scope, row.expires_at],
    );
  }

  async refreshToken(tokenHash: string): Promise<RefreshTokenRow | undefined> {
    return (await this.db.query<RefreshTokenRow>(`SELECT * FROM ${this.s}.refresh_tokens WHERE token_hash = $1`, [tokenHash]))[0];
  }

  /** Rotates the token out (once); false when it was rotated or revoked before (a reuse). */
  async rotateRefreshToken(tokenHash: string): Promise<boolean> {
    const rows = await this.db.query(`UPDATE ${this.s}.refresh_tokens SET rotated_at = now() WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL RETURNING 1`, [tokenHash]);
    return rows.length === 1;
  }

  /** Revokes every live token of a family; the number revoked. */
  async revokeFamily(familyId: string): Promise<number> {
    return (await this.db.query(`UPDATE ${this.s}.refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL RETURNING 1`, [familyId])).length;
  }

  /** Revokes every refresh token of a user (sign-out everywhere); the number revoked. */
  async revokeUser(objectId: string): Promise<number> {
    return (await this.db.query(`UPDATE ${this.s}.refresh_tokens SET revoked_at = now() WHERE object_id = $1 AND revoked_at IS NULL RETURNING 1`, [objectId])).length;
  }

  // ---- sign-in sessions ----------------------------------------------------------------------

  async insertSession(row: { cookie_hash: string; session_id: string; tenant_id: string; object_id: string; password_set_at: Date | null; expires_at: Date }): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.s}.sign_in_sessions (cookie_hash, session_id, tenant_id, object_id, password_set_at, created_at, expires_at, last_used_at) VALUES ($1, $2, $3, $4, $5, now(), $6, now())`,
      [row.cookie_hash, row.session_id, row.tenant_id, row.object_id, row.password_set_at, row.expires_at],
    );
    if (Math.random() < 0.02) await this.db.query(`DELETE FROM ${this.s}.sign_in_sessions WHERE expires_at < now() - interval '1 day'`);
  }

  /** The session a cookie names, with whether its user is still enabled and still has the same password; touches `last_used_at`. */
  async session(cookieHash: string): Promise<SignInSessionRow | undefined> {
    return (
      await this.db.query<SignInSessionRow>(
        `UPDATE ${this.s}.sign_in_sessions s SET last_used_at = now()
           FROM ${this.s}.principals p LEFT JOIN ${this.s}.user_passwords pw ON pw.object_id = p.object_id
          WHERE s.cookie_hash = $1 AND p.object_id = s.object_id
          RETURNING s.session_id, s.tenant_id, s.object_id, s.created_at, s.expires_at, s.revoked_at, s.revoked_reason,
                    p.enabled AS user_enabled, (pw.set_at IS NOT DISTINCT FROM s.password_set_at) AS password_current`,
        [cookieHash],
      )
    )[0];
  }

  /** Ends one session (sign-out); its id when it was live. */
  async endSession(cookieHash: string, reason: string): Promise<string | undefined> {
    const rows = await this.db.query<{ session_id: string }>(
      `UPDATE ${this.s}.sign_in_sessions SET revoked_at = now(), revoked_reason = $2 WHERE cookie_hash = $1 AND revoked_at IS NULL RETURNING session_id`,
      [cookieHash, reason],
    );
    return rows[0]?.session_id;
  }

  /** Ends every live session of a user; the number ended. */
  async endUserSessions(objectId: string, reason: string): Promise<number> {
    return (await this.db.query(`UPDATE ${this.s}.sign_in_sessions SET revoked_at = now(), revoked_reason = $2 WHERE object_id = $1 AND revoked_at IS NULL AND expires_at > now() RETURNING 1`, [objectId, reason])).length;
  }

  // ---- sign-in throttling --------------------------------------------------------------------

  /** Failures per counter within the last `windowSeconds`. */
  async failureCounts(counters: readonly string[], windowSeconds: number): Promise<Map<string, number>> {
    const rows = await this.db.query<{ counter: string; n: string }>(
      `SELECT counter, count(*) AS n FROM ${this.s}.sign_in_failures WHERE counter = ANY($1::text[]) AND failed_at > now() - make_interval(secs => $2) GROUP BY counter`,
      [counters, windowSeconds],
    );
    return new Map(rows.map((r) => [r.counter, Number(r.n)]));
  }

  async recordFailure(counters: readonly string[], windowSeconds: number): Promise<void> {
    await this.db.query(`INSERT INTO ${this.s}.sign_in_failures (counter, failed_at) SELECT unnest($1::text[]), now()`, [counters]);
    if (Math.random() < 0.02) await this.db.query(`DELETE FROM ${this.s}.sign_in_failures WHERE failed_at < now() - make_interval(secs => $1)`, [windowSeconds]);
  }

  async clearFailures(counter: string): Promise<void> {
    await this.db.query(`DELETE FROM ${this.s}.sign_in_failures WHERE counter = $1`, [counter]);
  }
}
