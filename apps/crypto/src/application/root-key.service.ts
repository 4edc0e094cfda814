import type { Pkcs11Token, RootKey } from '#libs/crypto-core';
import type { Logger } from 'pino';
import type { OpenedRoot } from '../adapters/hsm/root.opener.js';
import { ErrorCode, serviceError } from '../domain/crypto.errors.js';

export interface RootStatus {
  readonly sealed: boolean;
  /** `pkcs11:<token>/<key label>`-style id of the root, '' while sealed. */
  readonly root: string;
  readonly reason: string;
}

/** Opens the root; may throw (RootUnavailable, or anything else). */
export type RootOpener = () => Promise<OpenedRoot>;

/**
 * The seal state. Until the root opens, the service is sealed: every operation is refused
 * with `Sealed` (audited), the health endpoint says why, and opening is retried every
 * `retryMs`. Losing the root later (token removed, session gone) seals again and drops every
 * cached secret (`onSeal` listeners: decrypted keys, vault KEKs, token handles).
 */
export class RootKeyService {
  private opened: OpenedRoot | null = null;
  private reason = 'starting';
  private timer: NodeJS.Timeout | undefined;
  private attempt: Promise<boolean> | null = null;
  private stopped = false;
  /** Sealed on purpose (not by failure): no automatic retry. */
  private held = false;
  private readonly listeners: (() => void)[] = [];
  private lastLogged = '';

  constructor(
    private readonly open: RootOpener,
    private readonly retryMs: number,
    private readonly logger: Logger,
  ) {}

  /** Tries once; while that fails, keeps retrying in the background. Never throws. */
  async start(): Promise<void> {
    const ok = await this.tryUnseal();
    if (!ok) this.scheduleRetry();
  }

  get sealed(): boolean {
    return this.opened === null;
  }

  status(): RootStatus {
    if (this.opened) return { sealed: false, root: this.opened.root.id, reason: '' };
    return { sealed: true, root: '', reason: this.reason };
  }

  /** The root, or a `Sealed` refusal naming why. */
  root(): RootKey {
    if (!this.opened) throw this.sealedError();
    return this.opened.root;
  }

  /** The token session (for HSM keys), `Sealed` while sealed, `NotSupported` with a development root. */
  token(): Pkcs11Token {
    if (!this.opened) throw this.sealedError();
    if (!this.opened.token) throw serviceError(ErrorCode.NotSupported, 'HSM keys need the PKCS#11 root (CRYPTO_ROOT=pkcs11)');
    return this.opened.token;
  }

  get hasToken(): boolean {
    return this.opened?.token != null;
  }

  /** Registers a listener run whenever the service seals (drop caches, zero keys). */
  onSeal(listener: () => void): void {
    this.listeners.push(listener);
  }

  /**
   * Seals now: drops cached secrets and closes the root. `retry`: keep trying to reopen it
   * (a lost token); otherwise it stays sealed until `unsealNow()` or a restart.
   */
  seal(reason: string, retry: boolean): void {
    const opened = this.opened;
    this.opened = null;
    this.reason = reason;
    this.held = !retry;
    for (const l of this.listeners) {
      try {
        l();
      } catch (err) {
        this.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'seal listener failed');
      }
    }
    if (opened) {
      try {
        opened.close();
      } catch {
        /* the session may already be gone */
      }
      this.logger.warn({ reason }, 'crypto sealed');
    }
    if (retry) this.scheduleRetry();
  }

  /** Called when an operation hit RootUnavailable: the root went away under us. */
  reportRootLost(message: string): void {
    if (!this.opened) return;
    this.seal(`root key lost: ${message}`, true);
  }

  /** One unseal attempt now (also after an operator seal). */
  async unsealNow(): Promise<boolean> {
    this.held = false;
    return this.tryUnseal();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.attempt?.catch(() => false);
    this.seal('the service is shutting down', false);
  }

  private sealedError(): Error {
    return serviceError(ErrorCode.Sealed, `the crypto service is sealed: ${this.reason}`);
  }

  private tryUnseal(): Promise<boolean> {
    if (this.opened) return Promise.resolve(true);
    this.attempt ??= (async () => {
      try {
        const opened = await this.open();
        if (this.stopped) {
          opened.close();
          return false;
        }
        this.opened = opened;
        this.reason = '';
        this.lastLogged = '';
        this.logger.info({ root: opened.root.id, kind: opened.kind }, 'crypto unsealed');
        return true;
      } catch (err) {
        this.reason = err instanceof Error ? err.message : String(err);
        if (this.reason !== this.lastLogged) {
          this.logger.warn({ reason: this.reason, retryMs: this.retryMs }, 'crypto is sealed: the root key is not available');
          this.lastLogged = this.reason;
        }
        return false;
      } finally {
        this.attempt = null;
      }
    })();
    return this.attempt;
  }

  private scheduleRetry(): void {
    if (this.stopped || this.timer || this.held) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.opened || this.held) return;
      void this.tryUnseal().then((ok) => {
        if (!ok) this.scheduleRetry();
      });
    }, this.retryMs);
    this.timer.unref();
  }
}
