// The development CA and the service certificate, made once with the openssl CLI.
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIRS, run, say } from './util.mjs';

const SANS = [
  'DNS:localhost',
  'DNS:vault.localhost',
  'DNS:*.vault.localhost',
  'DNS:managedhsm.localhost',
  'DNS:*.managedhsm.localhost',
  'DNS:identity.localhost',
  'DNS:audit.localhost',
  'DNS:crypto.localhost',
  'IP:127.0.0.1',
  'IP:::1',
];

export const tlsFiles = () => ({
  ca: join(DIRS.tls, 'ca.crt'),
  caKey: join(DIRS.tls, 'ca.key'),
  cert: join(DIRS.tls, 'server.crt'),
  key: join(DIRS.tls, 'server.key'),
});

export function ensureTls() {
  const f = tlsFiles();
  if (existsSync(f.ca) && existsSync(f.cert) && existsSync(f.key)) return f;
  say('tls', `creating a development CA and service certificate in ${DIRS.tls}`);
  const o = (args) => run('tls', 'openssl', args, { quiet: true });
  o(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f.caKey]);
  o(['req', '-x509', '-new', '-key', f.caKey, '-sha256', '-days', '3650', '-subj', '/O=Keyledger/CN=Keyledger Development CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', f.ca]);
  o(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f.key]);
  const csr = join(DIRS.tls, 'server.csr');
  o(['req', '-new', '-key', f.key, '-subj', '/O=Keyledger/CN=localhost', '-out', csr]);
  const ext = join(DIRS.tls, 'server.ext');
  writeFileSync(ext, [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyAgreement',
    'extendedKeyUsage=serverAuth,clientAuth',
    `subjectAltName=${SANS.join(',')}`,
  ].join('\n') + '\n');
  o(['x509', '-req', '-in', csr, '-CA', f.ca, '-CAkey', f.caKey, '-CAcreateserial', '-days', '825', '-sha256', '-extfile', ext, '-out', f.cert]);
  for (const k of [f.caKey, f.key]) chmodSync(k, 0o600);
  return f;
}
