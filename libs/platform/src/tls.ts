import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type TlsMaterial = { readonly cert: Buffer; readonly key: Buffer; readonly ca: Buffer; readonly caFile: string };

export type TlsFiles = { readonly certFile: string; readonly keyFile: string; readonly caFile: string };

/** The development CA layout written by `npm run stack:up` under `.keyledger/tls`. */
export function devTlsFiles(home: string): TlsFiles {
  const dir = join(home, 'tls');
  return { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.crt') };
}

export function loadTls(files: TlsFiles): TlsMaterial {
  for (const [name, file] of Object.entries(files)) {
    if (!existsSync(file)) {
      throw new Error(`TLS ${name} not found at ${file}: run "npm run stack:up" to create the development CA, or set TLS_CERT_FILE/TLS_KEY_FILE/TLS_CA_FILE`);
    }
  }
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile), ca: readFileSync(files.caFile), caFile: files.caFile };
}
