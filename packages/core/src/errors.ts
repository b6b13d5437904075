/**
 * One error hierarchy for every package and protocol. Errors carry a stable `code`, say
 * whether a retry may succeed, hold structured `details`, and survive the wire:
 * {@link McpmasError.toJSON} on one side, {@link errorFromJSON} on the other.
 */

/** Every error code mcpmas produces. Adapters map these to native statuses with one table each. */
export const ErrorCode = {
  /** A request or configuration value failed validation; `details.issues` names the fields. */
  Validation: 'VALIDATION',
  /** No credentials, or credentials that match no key. */
  Unauthenticated: 'UNAUTHENTICATED',
  /** Valid credentials without the scope the operation needs. */
  Forbidden: 'FORBIDDEN',
  /** Unknown task, agent, batch or operation. */
  NotFound: 'NOT_FOUND',
  /** State conflict: stale lease token, late or duplicate result, task already terminal. */
  Conflict: 'CONFLICT',
  /** A body, payload or result over the configured size. */
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  /** A rate limit refused the call. */
  RateLimited: 'RATE_LIMITED',
  /** The hub or a backend cannot serve right now (shutting down, Redis down). */
  Unavailable: 'UNAVAILABLE',
  /** A deadline passed before the operation finished. */
  Timeout: 'TIMEOUT',
  /** The caller's configuration is invalid. */
  Config: 'CONFIG',
  /** A capability the implementation does not have (e.g. push on a polling transport). */
  Unsupported: 'UNSUPPORTED',
  /** A bug or an unexpected failure. */
  Internal: 'INTERNAL',
} as const;

/** A value of {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Options accepted by every error constructor. */
export interface McpmasErrorOptions {
  /** Structured, JSON-serialisable context (field paths, ids, states). */
  details?: Record<string, unknown>;
  /** The underlying error. Not sent over the wire. */
  cause?: unknown;
  /** Overrides the code's default retryability. */
  retryable?: boolean;
}

/** The serialised form of an error, as sent on every protocol. */
export interface SerializedError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

const RETRYABLE_BY_DEFAULT: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.RateLimited,
  ErrorCode.Unavailable,
  ErrorCode.Timeout,
]);

/** Base class of every mcpmas error. */
export class McpmasError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Whether repeating the same call later may succeed. */
  readonly retryable: boolean;
  /** Structured context; always JSON-serialisable. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: McpmasErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT.has(code);
    this.details = options.details;
  }

  /** The wire form: code, message, retryable and details (never the cause or stack). */
  toJSON(): SerializedError {
    const out: SerializedError = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.details !== undefined) out.details = this.details;
    return out;
  }
}

/** Invalid input. `details.issues` lists `{ path, message }` for every offending field. */
export class ValidationError extends McpmasError {
  constructor(message: string, options?: McpmasErrorOptions) {
    super(ErrorCode.Validation, message, options);
  }
}
/** Missing or unknown credentials. */
export class UnauthenticatedError extends McpmasError {
  constructor(message = 'missing or invalid API key', options?: McpmasErrorOptions) {
    super(ErrorCode.Unauthenticated, message, options);
  }
}
/** The credentials lack a required scope. */
export class ForbiddenError extends McpmasError {
  constructor(message: string, options?: McpmasErrorOptions) {
    super(ErrorCode.Forbidden, message, options);
  }
}
/** Unknown id. */
export class NotFoundError extends McpmasError {
  constructor(message: string, options?: McpmasErrorOptions) {
    super(ErrorCode.NotFound, message, options);
  }
}
/** State conflict (stale lease, terminal task). */
export class ConflictError extends McpmasError {
  constructor(message: string, options?: McpmasErrorOptions) {
    super(ErrorCode.Conflict, message, options);
  }
}
/** Over a size limit. */
export class PayloadTooLargeError extends McpmasError {
  constructor(message: string, options?: McpmasErrorOptions) {
    super(ErrorCode.PayloadTooLarge, message, options);
  }
}
/** Refused by a rate limit. */
export class RateLimitedError extends McpmasError {
  constructor(message: string, options?: McpmasErrorOptions) {
    super(ErrorCode.RateLimited, message, options);
  }
}
/** Temporarily unavailable. */
export class UnavailableError extends McpmasError {
  constructor(message: string, options?: McpmasErrorOptions) {
    super(ErrorCode.Unavailable, message, options);
  }
}
/** A deadline passed. */
export class TimeoutError extends McpmasError {
  constructor(message: string, options?: McpmasErrorOptions) {
    super(ErrorCode.Timeout, message, options);
  }
}
/** Invalid configuration; the message names the setting. */
export class ConfigError extends McpmasError {
  constructor(message: string, options?: McpmasErrorOptions) {
    super(ErrorCode.Config, message, options);
  }
}
/** The implementation lacks this capability. */
export class UnsupportedError extends McpmasError {
  constructor(message: string, options?: McpmasErrorOptions) {
    super(ErrorCode.Unsupported, message, options);
  }
}
/** Unexpected failure. */
export class InternalError extends McpmasError {
  constructor(message: string, options?: McpmasErrorOptions) {
    super(ErrorCode.Internal, message, options);
  }
}

const CLASS_BY_CODE: Record<ErrorCode, new (message: string, options?: McpmasErrorOptions) => McpmasError> = {
  [ErrorCode.Validation]: ValidationError,
  [ErrorCode.Unauthenticated]: UnauthenticatedError,
  [ErrorCode.Forbidden]: ForbiddenError,
  [ErrorCode.NotFound]: NotFoundError,
  [ErrorCode.Conflict]: ConflictError,
  [ErrorCode.PayloadTooLarge]: PayloadTooLargeError,
  [ErrorCode.RateLimited]: RateLimitedError,
  [ErrorCode.Unavailable]: UnavailableError,
  [ErrorCode.Timeout]: TimeoutError,
  [ErrorCode.Config]: ConfigError,
  [ErrorCode.Unsupported]: UnsupportedError,
  [ErrorCode.Internal]: InternalError,
};

/** True when `value` is a known {@link ErrorCode}. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(CLASS_BY_CODE, value);
}

/**
 * Rebuilds an error received over the wire as the matching subclass. Anything that does not
 * look like a {@link SerializedError} becomes an {@link InternalError} that keeps the raw value.
 */
export function errorFromJSON(value: unknown): McpmasError {
  if (value && typeof value === 'object') {
    const v = value as Partial<SerializedError>;
    if (isErrorCode(v.code) && typeof v.message === 'string') {
      const Ctor = CLASS_BY_CODE[v.code];
      const options: McpmasErrorOptions = {};
      if (typeof v.retryable === 'boolean') options.retryable = v.retryable;
      if (v.details && typeof v.details === 'object') options.details = v.details;
      return new Ctor(v.message, options);
    }
  }
  return new InternalError('malformed error from remote peer', { details: { received: value } });
}

/**
 * Normalises anything thrown into a {@link McpmasError}: mcpmas errors pass through, zod
 * errors become {@link ValidationError}s naming each field, everything else is internal.
 */
export function fromUnknown(error: unknown): McpmasError {
  if (error instanceof McpmasError) return error;
  if (isZodLike(error)) return validationFromIssues(error.issues);
  if (error instanceof Error) {
    // A caller's own abort: repeating the same call would be aborted the same way.
    if (error.name === 'AbortError')
      return new TimeoutError('operation aborted', { cause: error, retryable: false });
    return new InternalError(error.message || 'internal error', { cause: error });
  }
  return new InternalError('internal error', { details: { thrown: String(error) } });
}

/** One zod-style issue, reduced to what a caller needs. */
export interface FieldIssue {
  /** Dotted path of the field, e.g. `tasks.3.priority`; empty for the root. */
  path: string;
  message: string;
}

interface ZodLikeIssue {
  path: ReadonlyArray<PropertyKey>;
  message: string;
  code?: string;
  keys?: string[];
}

function isZodLike(error: unknown): error is { issues: ZodLikeIssue[] } {
  return (
    error instanceof Error &&
    (error.name === 'ZodError' || error.name === '$ZodError') &&
    Array.isArray((error as { issues?: unknown }).issues)
  );
}

/** Builds a {@link ValidationError} whose message names the first field and lists all of them. */
export function validationFromIssues(issues: ReadonlyArray<ZodLikeIssue>, prefix = ''): ValidationError {
  const list: FieldIssue[] = issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    const message =
      issue.code === 'unrecognized_keys' && issue.keys
        ? `unknown field(s): ${issue.keys.join(', ')}`
        : issue.message;
    return { path, message };
  });
  const summary = list.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
  return new ValidationError(`invalid request: ${summary}`, { details: { issues: list } });
}
