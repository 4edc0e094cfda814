import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { REPO_ROOT } from '#libs/platform';

type ReflectionRequest = {
  host?: string;
  fileByFilename?: string;
  fileContainingSymbol?: string;
  fileContainingExtension?: { containingType?: string; extensionNumber?: number };
  allExtensionNumbersOfType?: string;
  listServices?: string;
  messageRequest?: string;
};

type TypeDefinition = { fileDescriptorProtos?: Buffer[] };

const REFLECTION_PROTO = (version: 'v1' | 'v1alpha'): string => join(REPO_ROOT, 'apps', 'vault', 'proto', 'grpc', 'reflection', version, 'reflection.proto');

/** The `name` field (1) of a serialized FileDescriptorProto. */
function descriptorName(bytes: Buffer): string | undefined {
  if (bytes[0] !== 0x0a) return undefined;
  let len = 0;
  let shift = 0;
  let i = 1;
  for (; i < bytes.length; i++) {
    const b = bytes[i]!;
    len |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) break;
    shift += 7;
  }
  return bytes.subarray(i + 1, i + 1 + len).toString('utf8');
}

/**
 * gRPC server reflection (v1 and v1alpha) for the services this server registers, built from
 * the file descriptors @grpc/proto-loader produces, so that grpcurl and Postman can discover
 * `keyledger.v1.Secrets` without the .proto file.
 */
export class ReflectionService {
  private readonly symbols = new Map<string, Buffer[]>();
  private readonly files = new Map<string, Buffer>();
  private readonly services: string[] = [];

  /** Declares the types of a loaded package definition and the services to list. */
  add(definition: protoLoader.PackageDefinition, services: readonly string[]): this {
    for (const [symbol, def] of Object.entries(definition)) {
      const protos = (def as TypeDefinition).fileDescriptorProtos ?? Object.values(def as Record<string, { requestType?: TypeDefinition }>).find((m) => m?.requestType?.fileDescriptorProtos)?.requestType?.fileDescriptorProtos;
      if (!protos) continue;
      this.symbols.set(symbol, protos);
      for (const p of protos) {
        const name = descriptorName(p);
        if (name) this.files.set(name, p);
      }
    }
    this.services.push(...services);
    return this;
  }

  register(server: grpc.Server): void {
    for (const version of ['v1', 'v1alpha'] as const) {
      const definition = protoLoader.loadSync(REFLECTION_PROTO(version), { keepCase: false, longs: Number, defaults: false, oneofs: true });
      this.add(definition, [`grpc.reflection.${version}.ServerReflection`]);
      const service = (grpc.loadPackageDefinition(definition) as unknown as { grpc: { reflection: Record<string, { ServerReflection: { service: grpc.ServiceDefinition } }> } }).grpc.reflection[version]!.ServerReflection.service;
      server.addService(service, { ServerReflectionInfo: (call: grpc.ServerDuplexStream<ReflectionRequest, unknown>) => this.serve(call) });
    }
  }

  private serve(call: grpc.ServerDuplexStream<ReflectionRequest, unknown>): void {
    call.on('data', (req: ReflectionRequest) => call.write(this.answer(req)));
    call.on('end', () => call.end());
    call.on('error', () => call.end());
  }

  private answer(req: ReflectionRequest): Record<string, unknown> {
    const base = { validHost: req.host ?? '', originalRequest: req };
    const files = (protos: Buffer[] | undefined) => (protos ? { fileDescriptorResponse: { fileDescriptorProto: protos } } : notFound());
    const notFound = () => ({ errorResponse: { errorCode: grpc.status.NOT_FOUND, errorMessage: 'not found' } });
    if (req.listServices !== undefined) return { ...base, listServicesResponse: { service: [...new Set(this.services)].map((name) => ({ name })) } };
    if (req.fileByFilename !== undefined) {
      const f = this.files.get(req.fileByFilename);
      return { ...base, ...files(f ? [f] : undefined) };
    }
    if (req.fileContainingSymbol !== undefined) {
      const symbol = req.fileContainingSymbol.replace(/^\./, '');
      const direct = this.symbols.get(symbol) ?? this.symbols.get(symbol.slice(0, symbol.lastIndexOf('.')));
      return { ...base, ...files(direct) };
    }
    if (req.allExtensionNumbersOfType !== undefined) return { ...base, allExtensionNumbersResponse: { baseTypeName: req.allExtensionNumbersOfType, extensionNumber: [] } };
    return { ...base, errorResponse: { errorCode: grpc.status.UNIMPLEMENTED, errorMessage: 'request not supported' } };
  }
}
