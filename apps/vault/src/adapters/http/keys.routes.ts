import type { CryptoClient } from '#libs/crypto-client';
import type { ApiPipeline } from './request-pipeline.js';

export type KeyRoutesDeps = {
  readonly crypto: CryptoClient;
};

/** The Azure Key Vault keys REST surface (`KeyVault.Keys`): key lifecycle. (Routes arrive with the keys issue.) */
export function registerKeyRoutes(_api: ApiPipeline, _deps: KeyRoutesDeps): void {}
