import type { KeyObject } from 'node:crypto';
import type { CheckpointSigner } from './checkpoint-signer.js';

/**
 * The signer in use plus every other signer whose keys stay trusted for verification (a
 * deployment that moved from the local key to the crypto service still verifies the
 * checkpoints signed before). Each key id belongs to the signer whose `owns` says so.
 */
export class TrustedSigners implements CheckpointSigner {
  constructor(
    private readonly active: CheckpointSigner,
    private readonly all: readonly { readonly signer: CheckpointSigner; readonly owns: (keyId: string) => boolean }[],
  ) {}

  get provider(): string {
    return this.active.provider;
  }

  init(): Promise<void> {
    return this.active.init();
  }

  currentKeyId(): Promise<string> {
    return this.active.currentKeyId();
  }

  sign(input: Buffer): Promise<{ readonly keyId: string; readonly signature: Buffer }> {
    return this.active.sign(input);
  }

  async trustedPublicKey(keyId: string): Promise<KeyObject | undefined> {
    const owner = this.all.find((s) => s.owns(keyId));
    return owner ? owner.signer.trustedPublicKey(keyId) : undefined;
  }

  async publicJwks(): Promise<readonly Record<string, unknown>[]> {
    const lists = await Promise.all(this.all.map((s) => s.signer.publicJwks().catch(() => [])));
    return lists.flat();
  }
}
