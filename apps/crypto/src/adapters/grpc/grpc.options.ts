import grpc from '@grpc/grpc-js';
import { Transport, type GrpcOptions } from '@nestjs/microservices';
import { CRYPTO_GRPC_MAX_MESSAGE_BYTES, CRYPTO_PROTO_LOADER_OPTIONS, CRYPTO_PROTO_PACKAGE, CRYPTO_PROTO_PATH } from '#libs/crypto-client';
import type { TlsMaterial } from '#libs/platform';

/**
 * The gRPC endpoint: the crypto proto on host:port with mutual TLS — the service presents
 * the server certificate, and (by default) only clients with a certificate signed by the CA
 * get in.
 */
export function cryptoGrpcOptions(host: string, port: number, tls: TlsMaterial, requireClientCert: boolean): GrpcOptions {
  return {
    transport: Transport.GRPC,
    options: {
      url: `${host}:${port}`,
      package: CRYPTO_PROTO_PACKAGE,
      protoPath: CRYPTO_PROTO_PATH,
      loader: CRYPTO_PROTO_LOADER_OPTIONS,
      credentials: grpc.ServerCredentials.createSsl(tls.ca, [{ cert_chain: tls.cert, private_key: tls.key }], requireClientCert),
      maxReceiveMessageLength: CRYPTO_GRPC_MAX_MESSAGE_BYTES,
      maxSendMessageLength: CRYPTO_GRPC_MAX_MESSAGE_BYTES,
      // channelz (grpc-js's introspection service, not served here) counts and traces every call.
      channelOptions: { 'grpc.enable_channelz': 0 },
      gracefulShutdown: true,
    },
  };
}
