import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import grpc from '@grpc/grpc-js';
import { throwError, type Observable } from 'rxjs';
import { CRYPTO_ERROR_TRAILER } from '#libs/crypto-client';
import { classifyError, STATUS_OF } from '../../domain/crypto.errors.js';

/** What grpc-js sends for a failed unary call: status, details and trailers. */
export interface GrpcFailure {
  readonly code: number;
  readonly message: string;
  readonly details: string;
  readonly metadata: grpc.Metadata;
}

/** A failure as a gRPC status with the stable code in the `keyledger-error-code` trailer. */
export function toGrpcFailure(err: unknown): GrpcFailure {
  const { code, message } = classifyError(err);
  const metadata = new grpc.Metadata();
  metadata.set(CRYPTO_ERROR_TRAILER, code);
  return { code: grpc.status[STATUS_OF[code]], message, details: message, metadata };
}

/** Every exception leaving a gRPC handler becomes a typed status (audit happened in the application layer). */
@Catch()
export class GrpcErrorFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => toGrpcFailure(exception));
  }
}
