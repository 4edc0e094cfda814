import https from 'node:https';
import { Kafka, logLevel } from 'kafkajs';
import { TOPICS } from '#libs/contracts';
import { assignRole, bootstrap, ca, createServicePrincipal, unassignRole } from '../support/identity.js';
import { stackEnv, suffix } from '../support/stack-env.js';

/**
 * Token endpoint throughput (client_credentials with a client secret, 32 concurrent
 * clients on keep-alive connections) and role-change propagation (assignment answered →
 * RoleAssignmentCreated received by a Kafka consumer of the identity events topic).
 */
export async function run(): Promise<Record<string, unknown>> {
  const b = bootstrap();
  const sp = await createServicePrincipal(`bench-${suffix()}`);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca: ca() });
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: sp.appId, client_secret: sp.clientSecret, scope: 'https://vault.localhost/.default' }).toString();
  const url = new URL(`${b.authorityHost}/${b.tenantId}/oauth2/v2.0/token`);
  const once = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const req = https.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });

  const coldMs = await once(); // first request for this secret pays the scrypt verification
  const concurrency = 32;
  const durationMs = Number(process.env.BENCH_SECONDS ?? 10) * 1000;
  const latencies: number[] = [];
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) latencies.push(await once());
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((x, y) => x - y);
  const pct = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]! * 100) / 100;
  agent.destroy();

  // Role-change propagation.
  const kafka = new Kafka({ clientId: 'bench-identity', brokers: stackEnv.kafkaBrokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `bench-identity-${suffix()}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic: TOPICS.identityEvents, fromBeginning: false });
  const seen = new Map<string, number>();
  await consumer.run({
    eachMessage: async ({ message }) => {
      const env = JSON.parse(message.value!.toString()) as { type: string; data: { id?: string } };
      if (env.type === 'RoleAssignmentCreated' && env.data.id) seen.set(env.data.id, performance.now());
    },
  });
  await new Promise((r) => setTimeout(r, 3000)); // let the group join before measuring
  const propagation: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const id = await assignRole(sp.objectId, 'Key Vault Secrets User', `/vaults/bench${i}-${suffix()}`);
    const answered = performance.now();
    while (!seen.has(id) && performance.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 2));
    if (seen.has(id)) propagation.push(seen.get(id)! - answered);
    await unassignRole(id);
  }
  await consumer.disconnect();
  propagation.sort((x, y) => x - y);
  return {
    tokenRequests: latencies.length,
    tokensPerSecond: Math.round(latencies.length / elapsed),
    concurrency,
    latencyMsP50: pct(0.5),
    latencyMsP99: pct(0.99),
    firstRequestWithScryptMs: Math.round(coldMs),
    roleChangePropagationMsP50: Math.round(propagation[Math.floor(propagation.length / 2)] ?? -1),
    roleChangePropagationMsMax: Math.round(propagation[propagation.length - 1] ?? -1),
    roleChangeSamples: propagation.length,
  };
}
