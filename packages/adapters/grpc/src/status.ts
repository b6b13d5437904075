/**
 * The one table between mcpmas error codes and gRPC status codes, and the trailer that carries
 * the exact serialised error, so a client rebuilds the same typed error the hub threw.
 */
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import {
  ConflictError,
  ErrorCode,
  errorFromJSON,
  ForbiddenError,
  fromUnknown,
  InternalError,
  type McpmasError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  TimeoutError,
  UnauthenticatedError,
  UnavailableError,
  UnsupportedError,
  ValidationError,
} from '@mcpmas/core';

/** Trailer key of the serialised error (UTF-8 JSON of `SerializedError`). */
export const ERROR_TRAILER = 'mcpmas-error-bin';

/** The gRPC status of each error code. */
export const GRPC_STATUS_BY_CODE: Readonly<Record<ErrorCode, status>> = {
  [ErrorCode.Validation]: status.INVALID_ARGUMENT,
  [ErrorCode.Unauthenticated]: status.UNAUTHENTICATED,
  [ErrorCode.Forbidden]: status.PERMISSION_DENIED,
  [ErrorCode.NotFound]: status.NOT_FOUND,
  // A stale lease or a terminal task: the caller must re-read state before trying again.
  [ErrorCode.Conflict]: status.FAILED_PRECONDITION,
  [ErrorCode.PayloadTooLarge]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.RateLimited]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.Unavailable]: status.UNAVAILABLE,
  [ErrorCode.Timeout]: status.DEADLINE_EXCEEDED,
  [ErrorCode.Unsupported]: status.UNIMPLEMENTED,
  [ErrorCode.Config]: status.INTERNAL,
  [ErrorCode.Internal]: status.INTERNAL,
};

/** A gRPC error (status, message, trailers with the serialised error) for a mcpmas error. */
export function toServiceError(error: unknown): Partial<ServiceError> & { code: status; details: string } {
  const err = fromUnknown(error);
  const metadata = new Metadata();
  metadata.set(ERROR_TRAILER, Buffer.from(JSON.stringify(err.toJSON()), 'utf8'));
  return { code: GRPC_STATUS_BY_CODE[err.code] ?? status.INTERNAL, details: err.message, metadata };
}

/**
 * The mcpmas error for a failed call: the serialised error from the trailer when the hub sent
 * one, else an error chosen by the status (a proxy, a transport failure, a deadline).
 */
export function fromServiceError(error: unknown, where: string): McpmasError {
  const e = error as Partial<ServiceError> | undefined;
  const raw = e?.metadata?.get?.(ERROR_TRAILER)?.[0];
  if (raw !== undefined) {
    try {
      return errorFromJSON(JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw)));
    } catch {
      // Fall through to the status.
    }
  }
  const code = typeof e?.code === 'number' ? e.code : status.UNKNOWN;
  const message = `${where}: ${e?.details || e?.message || status[code] || 'gRPC call failed'}`;
  const details = { grpcStatus: code };
  switch (code) {
    case status.INVALID_ARGUMENT:
      return new ValidationError(message, { details });
    case status.UNAUTHENTICATED:
      return new UnauthenticatedError(message, { details });
    case status.PERMISSION_DENIED:
      return new ForbiddenError(message, { details });
    case status.NOT_FOUND:
      return new NotFoundError(message, { details });
    case status.FAILED_PRECONDITION:
    case status.ABORTED:
      return new ConflictError(message, { details });
    case status.RESOURCE_EXHAUSTED:
      // grpc-js itself uses it for messages over the size limit.
      return /larger than max|message length|exceeds/i.test(message)
        ? new PayloadTooLargeError(message, { details })
        : new RateLimitedError(message, { details });
    case status.DEADLINE_EXCEEDED:
      return new TimeoutError(message, { details });
    case status.CANCELLED:
      return new TimeoutError(message, { details, retryable: false });
    case status.UNIMPLEMENTED:
      return new UnsupportedError(message, { details });
    case status.UNAVAILABLE:
      return new UnavailableError(message, { details });
    default:
      return new InternalError(message, { details });
  }
}
