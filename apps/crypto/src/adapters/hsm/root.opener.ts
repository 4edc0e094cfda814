import { existsSync, readFileSync } from 'node:fs';
import { DevRootKey, DomainError, Pkcs11RootKey, Pkcs11Token, type RootKey } from '#libs/crypto-core';

/** An opened root key and, for PKCS#11, the logged-in token session HSM keys also use. */
export interface OpenedRoot {
  readonly kind: 'pkcs11' | 'dev';
  readonly root: RootKey;
  readonly token: Pkcs11Token | null;
  /** Zeroes the dev root / logs out and closes the token session. */
  close(): void;
}

export interface Pkcs11RootSettings {
  readonly modulePath: string;
  readonly tokenLabel: string;
  /** PIN from the environment, if set (wins over the file). */
  readonly pin: string;
  /** Read on every attempt, so fixing the file unseals without a restart. */
  readonly pinFile: string;
  readonly keyLabel: string;
  readonly createIfMissing: boolean;
}

function rootUnavailable(message: string): DomainError {
  return new DomainError('RootUnavailable', message);
}

function readPin(settings: Pkcs11RootSettings): string {
  if (settings.pin !== '') return settings.pin;
  if (!existsSync(settings.pinFile)) throw rootUnavailable(`the PKCS#11 PIN file ${settings.pinFile} does not exist (set PKCS11_PIN or PKCS11_PIN_FILE)`);
  const pin = readFileSync(settings.pinFile, 'utf8').trim();
  if (pin === '') throw rootUnavailable(`the PKCS#11 PIN file ${settings.pinFile} is empty`);
  return pin;
}

/** Logs in to the token and finds (or, on first start, generates) the AES-256 root key object. Fails with RootUnavailable. */
export function openPkcs11Root(settings: Pkcs11RootSettings): OpenedRoot {
  if (!existsSync(settings.modulePath)) throw rootUnavailable(`the PKCS#11 module ${settings.modulePath} does not exist (PKCS11_MODULE)`);
  const pin = readPin(settings);
  const token = Pkcs11Token.open({ modulePath: settings.modulePath, tokenLabel: settings.tokenLabel, pin });
  try {
    const root = Pkcs11RootKey.fromToken(token, settings.keyLabel, settings.createIfMissing, false);
    return { kind: 'pkcs11', root, token, close: () => token.close() };
  } catch (err) {
    token.close();
    throw err;
  }
}

export function openDevRoot(unsealSecret: string): OpenedRoot {
  const root = DevRootKey.fromUnsealSecret(unsealSecret);
  return { kind: 'dev', root, token: null, close: () => root.destroy() };
}
