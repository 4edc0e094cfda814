/**
 * A mixed workload through the official Azure SDKs (@azure/keyvault-secrets, -keys,
 * @azure/identity) and identity's admin API: secret set/get/delete/recover, key versions,
 * sign/verify, role assignments. It records every answer the services gave (one per HTTP
 * attempt, with its x-ms-request-id: the audit record's id) and every acknowledged write,
 * so that afterwards each write can be read back and each answer matched with its record.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import https from 'node:https';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { ClientSecretCredential } from '@azure/identity';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { SecretClient } from '@azure/keyvault-secrets';
import { authorityHost, bootstrap, caCert, VAULT_URL } from './stack-control.js';

export type Answer = { service: 'vault' | 'identity'; id: string; status: number; code?: string; message?: string; t: number };
export type Write =
  | { kind: 'secret'; name: string; version: string; digest: string; t: number; lifecycle: boolean }
  | { kind: 'key'; name: string; version: string; t: number }
  | { kind: 'role-assign'; assignmentId: string; t: number }
  | { kind: 'role-unassign'; assignmentId: string; t: number };
export type OpName = 'secret.set' | 'secret.get' | 'secret.delete' | 'secret.recover' | 'key.create' | 'key.sign' | 'key.verify' | 'role.assign' | 'role.unassign';
export type OpResult = { op: OpName; ok: boolean; ms: number; t: number; error?: string };

const digestOf = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Shared state of one run: what was answered and acknowledged, and the wrong answers seen. */
export class Ledgerbook {
  readonly answers: Answer[] = [];
  readonly writes: Write[] = [];
  readonly ops: OpResult[] = [];
  readonly wrongAnswers: string[] = [];
  /** Role assignments whose fate is unknown (an assign or unassign without an answer). */
  readonly unknownAssignments = new Set<string>();
  ackTimes: number[] = [];
  opsDone = 0;

  recordOp(r: OpResult): void {
    this.ops.push(r);
    this.opsDone++;
    if (r.ok && (r.op === 'secret.set' || r.op === 'key.create' || r.op === 'role.assign' || r.op === 'secret.delete' || r.op === 'secret.recover' || r.op === 'role.unassign')) this.ackTimes.push(r.t);
  }
}

/** A pipeline policy that notes each answer (every retry attempt) of the vault. */
function recorder(book: Ledgerbook): PipelinePolicy {
  return {
    name: 'keyledger-proof-recorder',
    async sendRequest(request, next) {
      const res = await next(request);
      const id = res.headers.get('x-ms-request-id');
      if (id) {
        let error: { code?: string; message?: string } | undefined;
        if (res.status >= 400 && res.bodyAsText) {
          try {
            error = (JSON.parse(res.bodyAsText) as { error?: { code?: string; message?: string } }).error;
          } catch {
            error = undefined;
          }
        }
        book.answers.push({ service: 'vault', id, status: res.status, ...(error?.code ? { code: error.code } : {}), ...(error?.message ? { message: error.message.slice(0, 120) } : {}), t: Date.now() });
      }
      return res;
    },
  };
}

export type Clients = { secrets: SecretClient; keys: KeyClient; credential: ClientSecretCredential; book: Ledgerbook; crypto: (keyId: string) => CryptographyClient };

export function makeClients(book: Ledgerbook): Clients {
  const b = bootstrap();
  const credential = new ClientSecretCredential(b.tenantId, b.clientId, b.clientSecret, { authorityHost: authorityHost(), disableInstanceDiscovery: true });
  // A fresh options object per client: the SDK clients append their user-agent prefix to the
  // options they are given, so a shared object grows with every client made (one per key version).
  const options = (): { disableChallengeResourceVerification: true; additionalPolicies: { policy: PipelinePolicy; position: 'perRetry' }[]; retryOptions: { maxRetries: number; retryDelayInMs: number; maxRetryDelayInMs: number } } => ({
    disableChallengeResourceVerification: true,
    additionalPolicies: [{ policy: recorder(book), position: 'perRetry' as const }],
    retryOptions: { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4_000 },
  });
  const cryptoClients = new Map<string, CryptographyClient>();
  return {
    secrets: new SecretClient(VAULT_URL, credential, options()),
    keys: new KeyClient(VAULT_URL, credential, options()),
    credential,
    book,
    crypto: (keyId) => {
      let client = cryptoClients.get(keyId);
      if (!client) cryptoClients.set(keyId, (client = new CryptographyClient(keyId, credential, options())));
      return client;
    },
  };
}

const agent = new https.Agent({ keepAlive: true });

/** identity's admin API; each call carries its own x-ms-client-request-id (the audit record's correlationId). */
export async function adminCall(c: Clients, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const token = (await c.credential.getToken('https://identity.localhost/.default'))?.token;
  if (!token) throw new Error('no token for identity');
  const correlation = randomUUID();
  const url = new URL(path, authorityHost());
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, agent, ca: caCert(), timeout: 30_000, headers: { authorization: `Bearer ${token}`, 'x-ms-client-request-id': correlation, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
        c.book.answers.push({ service: 'identity', id: correlation, status: res.statusCode ?? 0, ...(error?.code ? { code: error.code } : {}), ...(error?.message ? { message: error.message.slice(0, 120) } : {}), t: Date.now() });
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (body !== undefined) req.write(JSON.stringify(body));
    req.end();
  });
}

type KeyState = { name: string; keyId: string; signatures: { digest: Buffer; signature: Uint8Array }[] };

/**
 * One writer: its own secrets, key and role assignment; each `step()` runs one operation
 * drawn from the mix. A name whose operation failed without an answer is retired (its state
 * is unknown), so every later check is exact.
 */
export class Writer {
  private readonly setNames: string[];
  private readonly versions = new Map<string, { version: string; value: string }[]>();
  private lifecycle: { name: string; step: 0 | 1 | 2 } | undefined;
  private lifecycleCount = 0;
  private key: KeyState | undefined;
  private assignment: string | undefined;
  private roleBroken = false;

  constructor(
    private readonly c: Clients,
    private readonly id: string,
    private readonly principal: string,
    private readonly vault: string,
  ) {
    this.setNames = Array.from({ length: 4 }, (_, i) => `proof-${id}-s${i}`);
  }

  private async timed(op: OpName, fn: () => Promise<void>): Promise<void> {
    const started = performance.now();
    try {
      await fn();
      this.c.book.recordOp({ op, ok: true, ms: performance.now() - started, t: Date.now() });
    } catch (err) {
      this.c.book.recordOp({ op, ok: false, ms: performance.now() - started, t: Date.now(), error: err instanceof Error ? err.message.slice(0, 200) : String(err) });
      throw err;
    }
  }

  async step(): Promise<void> {
    const r = Math.random();
    try {
      if (r < 0.3) await this.setSecret();
      else if (r < 0.5) await this.getSecret();
      else if (r < 0.62) await this.lifecycleStep();
      else if (r < 0.77) await this.sign();
      else if (r < 0.87) await this.verify();
      else if (r < 0.93) await this.createKeyVersion();
      else await this.roleStep();
    } catch {
      // counted in the book; the workload goes on
    }
  }

  private async setSecret(): Promise<void> {
    const name = this.setNames[Math.floor(Math.random() * this.setNames.length)]!;
    const value = randomBytes(24).toString('base64');
    await this.timed('secret.set', async () => {
      const s = await this.c.secrets.setSecret(name, value);
      const version = s.properties.version!;
      this.c.book.writes.push({ kind: 'secret', name, version, digest: digestOf(value), t: Date.now(), lifecycle: false });
      const list = this.versions.get(name) ?? [];
      list.push({ version, value });
      this.versions.set(name, list);
    });
  }

  private async getSecret(): Promise<void> {
    const known = [...this.versions.entries()].filter(([, v]) => v.length > 0);
    if (known.length === 0) return this.setSecret();
    const [name, list] = known[Math.floor(Math.random() * known.length)]!;
    const want = list[Math.floor(Math.random() * list.length)]!;
    await this.timed('secret.get', async () => {
      const s = await this.c.secrets.getSecret(name, { version: want.version });
      if (s.value !== want.value) this.c.book.wrongAnswers.push(`secret ${name}/${want.version}: another value was read`);
    });
  }

  private async lifecycleStep(): Promise<void> {
    if (!this.lifecycle) this.lifecycle = { name: `proof-${this.id}-l${this.lifecycleCount++}`, step: 0 };
    const l = this.lifecycle;
    try {
      if (l.step === 0) {
        const value = randomBytes(24).toString('base64');
        await this.timed('secret.set', async () => {
          const s = await this.c.secrets.setSecret(l.name, value);
          this.c.book.writes.push({ kind: 'secret', name: l.name, version: s.properties.version!, digest: digestOf(value), t: Date.now(), lifecycle: true });
        });
        l.step = 1;
      } else if (l.step === 1) {
        await this.timed('secret.delete', async () => {
          const poller = await this.c.secrets.beginDeleteSecret(l.name, { intervalInMs: 250 });
          await poller.pollUntilDone();
        });
        l.step = 2;
      } else {
        await this.timed('secret.recover', async () => {
          const poller = await this.c.secrets.beginRecoverDeletedSecret(l.name, { intervalInMs: 250 });
          await poller.pollUntilDone();
        });
        this.lifecycle = undefined;
      }
    } catch (err) {
      this.lifecycle = undefined; // state unknown: a new name next time
      throw err;
    }
  }

  private async ensureKey(): Promise<KeyState> {
    if (this.key) return this.key;
    const name = `proof-${this.id}-k`;
    let created: KeyState | undefined;
    await this.timed('key.create', async () => {
      const k = await this.c.keys.createEcKey(name, { curve: 'P-256' });
      this.c.book.writes.push({ kind: 'key', name, version: k.properties.version!, t: Date.now() });
      created = { name, keyId: k.id!, signatures: [] };
    });
    this.key = created;
    return created!;
  }

  private async createKeyVersion(): Promise<void> {
    const key = await this.ensureKey();
    await this.timed('key.create', async () => {
      const k = await this.c.keys.createEcKey(key.name, { curve: 'P-256' });
      this.c.book.writes.push({ kind: 'key', name: key.name, version: k.properties.version!, t: Date.now() });
      key.keyId = k.id!;
      key.signatures = [];
    });
  }

  private async sign(): Promise<void> {
    const key = await this.ensureKey();
    const digest = createHash('sha256').update(randomBytes(16)).digest();
    await this.timed('key.sign', async () => {
      const res = await this.c.crypto(key.keyId).sign('ES256', digest);
      key.signatures.push({ digest, signature: res.result });
      if (key.signatures.length > 16) key.signatures.shift();
    });
  }

  private async verify(): Promise<void> {
    const key = await this.ensureKey();
    const s = key.signatures[Math.floor(Math.random() * key.signatures.length)];
    if (!s) return this.sign();
    await this.timed('key.verify', async () => {
      const res = await this.c.crypto(key.keyId).verify('ES256', s.digest, s.signature);
      if (!res.result) this.c.book.wrongAnswers.push(`key ${key.name}: a signature it made did not verify`);
    });
  }

  private async roleStep(): Promise<void> {
    if (this.roleBroken) return this.setSecret();
    if (!this.assignment) {
      await this.timed('role.assign', async () => {
        const res = await adminCall(this.c, 'POST', '/admin/roleAssignments', { principal: this.principal, role: 'Key Vault Secrets User', scope: `/vaults/${this.vault}/secrets/proof-${this.id}-s0` });
        if (res.status !== 201) throw new Error(`assign: ${res.status}`);
        const id = (res.json as { id: string }).id;
        this.assignment = id;
        this.c.book.writes.push({ kind: 'role-assign', assignmentId: id, t: Date.now() });
      }).catch((err: unknown) => {
        this.roleBroken = true; // an unanswered assign may exist: this writer's role state is unknown from now on
        throw err;
      });
    } else {
      const id = this.assignment;
      await this.timed('role.unassign', async () => {
        const res = await adminCall(this.c, 'DELETE', `/admin/roleAssignments/${id}`);
        if (res.status !== 200) throw new Error(`unassign: ${res.status}`);
        this.c.book.writes.push({ kind: 'role-unassign', assignmentId: id, t: Date.now() });
        this.assignment = undefined;
      }).catch((err: unknown) => {
        this.roleBroken = true;
        this.c.book.unknownAssignments.add(id);
        throw err;
      });
    }
  }
}

/** The principal role changes are made for (created once per run). */
export async function makePrincipal(c: Clients, run: string): Promise<string> {
  const res = await adminCall(c, 'POST', '/admin/principals', { displayName: `proof-${run}`, kind: 'servicePrincipal' });
  if (res.status !== 201) throw new Error(`create principal: ${res.status} ${JSON.stringify(res.json)}`);
  return (res.json as { objectId: string }).objectId;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
