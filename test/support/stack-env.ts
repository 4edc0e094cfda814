import { join } from 'node:path';
import { keyledgerHome, REPO_ROOT } from '#libs/platform';

/** Where the running local stack is, with the same defaults the services use. */
export const stackEnv = {
  home: keyledgerHome(),
  repoRoot: REPO_ROOT,
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://keyledger:keyledger@127.0.0.1:5432/keyledger',
  kafkaBrokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  elasticsearchUrl: process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200',
  caFile: join(keyledgerHome(), 'tls', 'ca.crt'),
  softhsmConf: join(keyledgerHome(), 'softhsm', 'softhsm2.conf'),
  softhsmPinFile: join(keyledgerHome(), 'softhsm', 'user.pin'),
  softhsmModule: process.env.PKCS11_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so',
};

export const suffix = (): string => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
