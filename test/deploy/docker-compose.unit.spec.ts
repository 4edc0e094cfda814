import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { REPO_ROOT } from '#libs/platform';

type DependsOn = Record<string, { condition: string }>;
type ComposeService = {
  image?: string;
  build?: string | { context: string };
  ports?: string[];
  depends_on?: DependsOn;
  healthcheck?: { test: string[] | string };
  command?: string[] | string;
  environment?: Record<string, string | number> | string[];
  volumes?: string[];
};
type Compose = { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
const services = Object.entries(compose.services);

describe('docker-compose.yml', () => {
  it('defines the infrastructure (Azurite for Managed HSM backups included), the setup containers and the four services', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['audit', 'azurite', 'crypto', 'elasticsearch', 'es-setup', 'identity', 'init', 'kafka', 'kibana', 'kibana-seed', 'postgres', 'vault'].sort(),
    );
  });

  it.each(services)('%s has an image or a build', (_name, svc) => {
    expect(svc.image ?? svc.build).toBeTruthy();
  });

  it.each(services)('%s publishes ports only on loopback, in host:container form', (_name, svc) => {
    for (const p of svc.ports ?? []) expect(p).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
  });

  it.each(services)('%s depends only on defined services, waiting on health where one exists', (_name, svc) => {
    for (const [dep, { condition }] of Object.entries(svc.depends_on ?? {})) {
      const target = compose.services[dep];
      expect(target).toBeDefined();
      expect(['service_healthy', 'service_completed_successfully', 'service_started']).toContain(condition);
      if (condition === 'service_healthy') expect(target?.healthcheck).toBeDefined();
    }
  });

  it('starts each Keyledger service from its built entry point on its DESIGN port', () => {
    const expected: Record<string, number> = { identity: 9443, crypto: 9444, vault: 8443, audit: 8444 };
    for (const [name, port] of Object.entries(expected)) {
      const svc = compose.services[name]!;
      expect(svc.command).toContain(`dist/apps/${name}/src/main.js`);
      expect(svc.ports).toContain(`127.0.0.1:${port}:${port}`);
      expect(existsSync(join(REPO_ROOT, 'apps', name, 'src', 'main.ts'))).toBe(true);
    }
  });

  it('declares every named volume it mounts and ships the files it mounts from the repo', () => {
    for (const [, svc] of services) {
      for (const v of svc.volumes ?? []) {
        const [source] = v.split(':');
        if (source!.startsWith('./')) expect(existsSync(join(REPO_ROOT, source!))).toBe(true);
        else expect(Object.keys(compose.volumes ?? {})).toContain(source);
      }
    }
    expect(existsSync(join(REPO_ROOT, 'Dockerfile'))).toBe(true);
  });

  it('runs Elasticsearch with security on and gives the services its credentials', () => {
    const es = compose.services.elasticsearch!;
    expect(es.environment).toContain('xpack.security.enabled=true');
    const vault = compose.services.vault!.environment as Record<string, string>;
    expect(vault.ELASTICSEARCH_USERNAME).toBe('elastic');
    expect(vault.KAFKA_BROKERS).toBe('kafka:19092');
  });
});
