// A SoftHSM2 token for the crypto service's root key and HSM keys, kept under .keyledger/softhsm.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIRS, StackError, run, say } from './util.mjs';

export const SOFTHSM_MODULE_CANDIDATES = [
  process.env.PKCS11_MODULE,
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
].filter(Boolean);

export const TOKEN_LABEL = 'keyledger';

export function softhsmPaths() {
  return {
    conf: join(DIRS.softhsm, 'softhsm2.conf'),
    tokens: join(DIRS.softhsm, 'tokens'),
    pinFile: join(DIRS.softhsm, 'user.pin'),
    soPinFile: join(DIRS.softhsm, 'so.pin'),
  };
}

export function softhsmModule() {
  return SOFTHSM_MODULE_CANDIDATES.find((p) => existsSync(p));
}

function tokenPresent(conf) {
  const res = spawnSync('softhsm2-util', ['--show-slots'], { encoding: 'utf8', env: { ...process.env, SOFTHSM2_CONF: conf } });
  return res.status === 0 && new RegExp(`Label:\\s+${TOKEN_LABEL}\\s*$`, 'm').test(res.stdout);
}

export function ensureSofthsm() {
  const module = softhsmModule();
  const util = spawnSync('softhsm2-util', ['--version'], { encoding: 'utf8' });
  if (!module || util.status !== 0) {
    throw new StackError('softhsm: SoftHSM2 is not installed. Install it with: apt-get install softhsm2');
  }
  const p = softhsmPaths();
  mkdirSync(p.tokens, { recursive: true, mode: 0o700 });
  writeFileSync(p.conf, `directories.tokendir = ${p.tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  if (tokenPresent(p.conf)) return { ...p, module, label: TOKEN_LABEL };
  const pin = existsSync(p.pinFile) ? readFileSync(p.pinFile, 'utf8').trim() : randomBytes(12).toString('hex');
  const soPin = existsSync(p.soPinFile) ? readFileSync(p.soPinFile, 'utf8').trim() : randomBytes(12).toString('hex');
  writeFileSync(p.pinFile, `${pin}\n`, { mode: 0o600 });
  writeFileSync(p.soPinFile, `${soPin}\n`, { mode: 0o600 });
  say('softhsm', `initialising token "${TOKEN_LABEL}" in ${p.tokens}`);
  run('softhsm', 'softhsm2-util', ['--init-token', '--free', '--label', TOKEN_LABEL, '--pin', pin, '--so-pin', soPin], {
    quiet: true,
    env: { ...process.env, SOFTHSM2_CONF: p.conf },
  });
  return { ...p, module, label: TOKEN_LABEL };
}

export function softhsmStatus() {
  const p = softhsmPaths();
  return existsSync(p.conf) && tokenPresent(p.conf) ? `token "${TOKEN_LABEL}" ready (${p.conf})` : undefined;
}
