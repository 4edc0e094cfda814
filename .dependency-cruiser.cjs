/** Layer rules (CONVENTIONS.md): apps never import each other; domain code imports no adapters or frameworks. */
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
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};
