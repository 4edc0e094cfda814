/**
 * Layer rules (CONVENTIONS.md): apps never import each other; domain code imports no adapters or
 * frameworks; libs/kernel imports nothing and domain/ folders stand on it alone.
 *
 * `#libs/<name>` resolves through package.json "imports": the `types` condition points at
 * libs/<name>/src/index.ts, so these rules see every edge between packages (Node itself takes
 * `default`, the compiled dist/). test/layers/layer-rules.unit.spec.ts proves it with
 * deliberate violations.
 */
module.exports = {
  forbidden: [
    {
      name: 'apps-are-isolated',
      comment: 'A service talks to another only through Kafka events or gRPC, never by importing its code.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/([^/]+)/', pathNot: '^apps/$1/' },
    },
    {
      name: 'libs-do-not-import-apps',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'domain-is-pure',
      comment: 'domain/ holds deciders, events and errors: no adapters, no application layer, no Nest, no I/O drivers.',
      severity: 'error',
      from: { path: '(^|/)domain/' },
      to: {
        path: [
          '(^|/)(adapters|application|projections|config)/',
          '^node_modules/(@nestjs|pg|kafkajs|typeorm|@elastic|pkcs11js|@grpc|fastify)/',
        ],
      },
    },
    {
      name: 'kernel-imports-nothing',
      comment: 'libs/kernel is the dependency-free core: no package, no Node built-in, no other lib or app.',
      severity: 'error',
      from: { path: '^libs/kernel/src/', pathNot: '\\.spec\\.ts$' },
      to: { pathNot: '^libs/kernel/src/' },
    },
    {
      name: 'domain-stands-on-the-kernel',
      comment:
        'A domain/ folder loads only #libs/kernel, its own domain, the declared contracts (#libs/contracts), the pure cryptography library (#libs/crypto-core: algorithm tables) and node:crypto (hashing). ' +
        'Type-only imports are erased at run time and allowed from libs (domain-is-pure still bars adapters). Specs and fixtures are exempt.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/src/domain/', pathNot: '\\.(spec|fixtures?)\\.ts$' },
      to: {
        pathNot: ['^libs/kernel/src/', '^apps/$1/src/domain/', '^libs/contracts/src/', '^libs/crypto-core/src/', '^(node:)?crypto$'],
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'pure-libs-take-the-kernel',
      comment: 'libs/auth and libs/crypto-core take errors and types from #libs/kernel, never from the infrastructure libs (pg, kafkajs, Nest, Elasticsearch).',
      severity: 'error',
      from: { path: '^libs/(auth|crypto-core)/src/' },
      to: { path: '^libs/(eventstore|projections|platform)/src/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|\\.keyledger)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    combinedDependencies: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['types', 'import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};
