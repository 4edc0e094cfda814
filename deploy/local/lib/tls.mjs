// The development CA and the service certificate, made once with the openssl CLI. A service
// certificate made by an older version, whose names lack one of SANS (*.managedhsm.localhost
// came with Managed HSM pools), is issued again from the same CA and key: clients that trust
// the CA keep trusting it, and running services pick it up at their next start.
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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

/** The SANS entries a certificate (PEM) does not name; all of them when it cannot be read. */
export function missingSans(certPem) {
  let named;
  try {
    named = new Set((new X509Certificate(certPem).subjectAltName ?? '').split(/,\s*/).map((n) => n.replace(/^IP Address:/, 'IP:').toLowerCase()));
  } catch {
    return [...SANS];
  }
  // Node prints IPv6 addresses in full (0:0:0:0:0:0:0:1): compare IPs loosely, names exactly.
  return SANS.filter((s) => (s.startsWith('IP:') ? ![...named].some((n) => n.startsWith('ip:') && (n === s.toLowerCase() || (s === 'IP:::1' && n === 'ip:0:0:0:0:0:0:0:1'))) : !named.has(s.toLowerCase())));
}

export function ensureTls() {
  const f = tlsFiles();
  const o = (args) => run('tls', 'openssl', args, { quiet: true });
  if (existsSync(f.ca) && existsSync(f.caKey) && existsSync(f.cert) && existsSync(f.key)) {
    const missing = missingSans(readFileSync(f.cert, 'utf8'));
    if (missing.length === 0) return f;
    say('tls', `the service certificate does not name ${missing.join(', ')}: issuing it again from the same CA and key`);
    issueServerCert(f, o);
    return f;
  }
  if (existsSync(f.ca) && existsSync(f.cert) && existsSync(f.key)) return f;
  say('tls', `creating a development CA and service certificate in ${DIRS.tls}`);
  o(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f.caKey]);
  o(['req', '-x509', '-new', '-key', f.caKey, '-sha256', '-days', '3650', '-subj', '/O=Keyledger/CN=Keyledger Development CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', f.ca]);
  o(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f.key]);
  issueServerCert(f, o);
  for (const k of [f.caKey, f.key]) chmodSync(k, 0o600);
  return f;
}

/** The service certificate for the key in `f.key`, signed by the CA, naming SANS (written atomically enough: a new file, then renamed). */
function issueServerCert(f, o) {
  const csr = join(DIRS.tls, 'server.csr');
  o(['req', '-new', '-key', f.key, '-subj', '/O=Keyledger/CN=localhost', '-out', csr]);
  const ext = join(DIRS.tls, 'server.ext');
  writeFileSync(ext, [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyAgreement',
    'extendedKeyUsage=serverAuth,clientAuth',
    `subjectAltName=${SANS.join(',')}`,
  ].join('\n') + '\n');
  const next = `${f.cert}.new`;
  o(['x509', '-req', '-in', csr, '-CA', f.ca, '-CAkey', f.caKey, '-CAcreateserial', '-days', '825', '-sha256', '-extfile', ext, '-out', next]);
  renameSync(next, f.cert);
}
