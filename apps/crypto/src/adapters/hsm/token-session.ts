import pkcs11js from 'pkcs11js';
import { ckrOf, DomainError } from '#libs/crypto-core';
import { clearOpenSslErrors } from './openssl-error-queue.js';

export type Pkcs11 = InstanceType<typeof pkcs11js.PKCS11>;
export type Template = { type: number; value?: number | boolean | string | Buffer }[];

/**
 * Short sessions of this adapter's own on the token that crypto-core's `Pkcs11Token` keeps
 * logged in (login state is per application and token, so these sessions need no PIN). For
 * what crypto-core does not expose: creating key objects (import) and AES keys in the token.
 * It loads the same module (already initialized: CKR_CRYPTOKI_ALREADY_INITIALIZED is
 * expected) and never finalizes it or logs out; each call opens and closes its session, so
 * nothing dangles when the root session closes (seal).
 */
export class TokenSessions {
  private lib: Pkcs11 | null = null;

  constructor(
    private readonly modulePath: string,
    private readonly tokenLabel: string,
  ) {}

  private module(): Pkcs11 {
    if (!this.lib) {
      const lib = new pkcs11js.PKCS11();
      lib.load(this.modulePath);
      try {
        lib.C_Initialize();
      } catch (e) {
        if (ckrOf(e)?.name !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') throw e;
      }
      this.lib = lib;
    }
    return this.lib;
  }

  /** Runs `fn` in a fresh R/W session; PKCS#11 failures become `onError(ckr name)`; the OpenSSL error queue is cleared after. */
  run<T>(fn: (lib: Pkcs11, session: Buffer) => T, onError: (ckr: string) => Error): T {
    try {
      let lib: Pkcs11;
      let session: Buffer;
      try {
        lib = this.module();
        const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === this.tokenLabel);
        if (slot === undefined) throw new DomainError('RootUnavailable', `PKCS#11 token with label '${this.tokenLabel}' not found`);
        session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      } catch (e) {
        if (e instanceof DomainError) throw e;
        const name = ckrOf(e)?.name ?? 'unknown';
        // The module was finalized under us (a reseal): start over with a fresh instance next time.
        if (name === 'CKR_CRYPTOKI_NOT_INITIALIZED') this.lib = null;
        throw new DomainError('RootUnavailable', `the PKCS#11 token is not available (${name})`, { ckr: name });
      }
      try {
        return fn(lib, session);
      } catch (e) {
        if (e instanceof DomainError) throw e;
        const name = ckrOf(e)?.name ?? 'unknown';
        if (name === 'CKR_USER_NOT_LOGGED_IN' || name === 'CKR_CRYPTOKI_NOT_INITIALIZED' || name === 'CKR_TOKEN_NOT_PRESENT' || name === 'CKR_DEVICE_REMOVED') {
          throw new DomainError('RootUnavailable', `the PKCS#11 token is not available (${name})`, { ckr: name });
        }
        throw onError(name);
      } finally {
        try {
          lib.C_CloseSession(session);
        } catch {
          /* ignore */
        }
      }
    } finally {
      clearOpenSslErrors();
    }
  }

  /** The single secret-key object with this CKA_ID, or HsmObjectNotFound. */
  static findSecretKey(lib: Pkcs11, session: Buffer, objectId: string): Buffer {
    lib.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from(objectId, 'utf8') },
    ]);
    let found: Buffer[];
    try {
      found = lib.C_FindObjects(session, 2);
    } finally {
      lib.C_FindObjectsFinal(session);
    }
    if (found.length !== 1) throw new DomainError('HsmObjectNotFound', `no single secret key with id '${objectId}' in the token`, { objectId });
    return found[0]!;
  }

  /**
   * Creates token objects one after the other (each step returns the handle it made); if a
   * step fails, the objects already made are destroyed (best effort) and the failure rethrown,
   * so a key never ends up half in the token.
   */
  static createAllOrNone(lib: Pkcs11, session: Buffer, steps: readonly (() => Buffer)[]): Buffer[] {
    const created: Buffer[] = [];
    try {
      for (const step of steps) created.push(step());
      return created;
    } catch (e) {
      for (const h of created) {
        try {
          lib.C_DestroyObject(session, h);
        } catch {
          /* best effort */
        }
      }
      throw e;
    }
  }
}
