import type { CryptoClient } from '#libs/crypto-client';
import type { ApiPipeline } from './request-pipeline.js';

export type KeyOperationRoutesDeps = {
  readonly crypto: CryptoClient;
};

/** Azure's cryptographic operations on keys (encrypt, decrypt, wrapkey, unwrapkey, sign, verify). (Routes arrive with the keys issue.) */
export function registerKeyOperationRoutes(_api: ApiPipeline, _deps: KeyOperationRoutesDeps): void {}
