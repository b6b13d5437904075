/**
 * Shared HTTP plumbing: the one table between error codes and HTTP statuses (both ways),
 * JSON replies, and the translation of express/body-parser failures into mcpmas errors. The
 * server and the client both use it, so a status means the same on either side.
 */
import { type IncomingMessage, type OutgoingHttpHeader, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  ConflictError,
  ErrorCode,
  ForbiddenError,
  fromUnknown,
  InternalError,
  McpmasError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  TimeoutError,
  UnauthenticatedError,
  UnavailableError,
  UnsupportedError,
  ValidationError,
} from '@mcpmas/core';
import type { Response } from 'express';

/** Largest request body the server reads, in bytes or as `'1mb'`-style text. @default '1mb' */
export const DEFAULT_BODY_LIMIT = '1mb';

/** The HTTP status of each error code. The body is always `{ "error": <SerializedError> }`. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  [ErrorCode.Validation]: 400,
  [ErrorCode.Unauthenticated]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.RateLimited]: 429,
  [ErrorCode.Config]: 500,
  [ErrorCode.Internal]: 500,
  [ErrorCode.Unsupported]: 501,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.Timeout]: 504,
};

/**
 * Statuses that say more than the code alone (405 wrong method, 415 wrong content type) are
 * attached to the error here rather than to its details, so they never leak into the body.
 */
const statusOverrides = new WeakMap<McpmasError, number>();

/** Marks `error` to be sent with `status` instead of its code's usual one. Returns `error`. */
export function withStatus<E extends McpmasError>(error: E, status: number): E {
  statusOverrides.set(error, status);
  return error;
}

/** The HTTP status `error` is sent with. */
export function statusOf(error: McpmasError): number {
  return statusOverrides.get(error) ?? STATUS_BY_CODE[error.code] ?? 500;
}

/**
 * The error for a status whose body carried no serialised error (a proxy's 502 page, a
 * foreign server): the client's fallback, so every failure still has a code.
 */
export function errorFromStatus(status: number, message: string): McpmasError {
  const details = { status };
  switch (status) {
    case 401:
      return new UnauthenticatedError(message, { details });
    case 403:
      return new ForbiddenError(message, { details });
    case 404:
      return new NotFoundError(message, { details });
    case 405:
    case 501:
      return new UnsupportedError(message, { details });
    case 408:
    case 504:
      return new TimeoutError(message, { details });
    case 409:
      return new ConflictError(message, { details });
    case 413:
      return new PayloadTooLargeError(message, { details });
    case 429:
      return new RateLimitedError(message, { details });
    case 500:
      return new InternalError(message, { details });
  }
  if (status >= 500) return new UnavailableError(message, { details });
  if (status >= 400) return new ValidationError(message, { details });
  return new InternalError(message, { details });
}

interface HttpLikeError {
  type?: unknown;
  code?: unknown;
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  message?: unknown;
  limit?: unknown;
  length?: unknown;
  charset?: unknown;
}

/**
 * Normalises anything thrown while serving a request into a mcpmas error: body-parser's
 * failures (too large, invalid JSON, unsupported charset or encoding), the router's failure to
 * decode a path parameter, and everything else through core's `fromUnknown`.
 */
export function toMcpmasError(error: unknown): McpmasError {
  if (error instanceof McpmasError) return error;
  if (!(error instanceof Error)) return fromUnknown(error);
  const e = error as Error & HttpLikeError;
  switch (e.type) {
    case 'entity.too.large':
      return bodyTooLarge(e.limit as number, typeof e.length === 'number' ? e.length : undefined);
    case 'entity.parse.failed':
      return invalidJsonBody(e.message as string);
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return withStatus(
        new ValidationError(e.message, { details: { issues: [{ path: '', message: e.message }] } }),
        415,
      );
    case 'request.aborted':
      return new ValidationError('the client aborted the request body');
  }
  // zlib's own failure (body-parser passes it on as a 400): say which part was broken.
  if (typeof e.code === 'string' && e.code.startsWith('Z_')) {
    const message = `the request body does not decompress as its Content-Encoding says: ${e.message}`;
    return new ValidationError(message, { details: { issues: [{ path: '', message }] } });
  }
  const status =
    typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 0;
  if (status >= 400 && status < 500 && e.expose !== false) {
    return withStatus(errorFromStatus(status, e.message || STATUS_CODES[status] || 'bad request'), status);
  }
  return fromUnknown(error);
}

/** The 413 for a body over `limit` bytes (`size` when the request declared its length). */
export function bodyTooLarge(limit: number, size?: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`request body is larger than the limit of ${limit} bytes`, {
    details: { limit, ...(size !== undefined ? { size } : {}) },
  });
}

/** The 400 for a body that is not JSON, with the parser's own words. */
export function invalidJsonBody(message: string): ValidationError {
  return new ValidationError(`invalid JSON body: ${message}`, {
    details: { issues: [{ path: '', message: `invalid JSON: ${message}` }] },
  });
}

/** `application/json` and `application/<anything>+json`, with or without parameters. */
const JSON_CONTENT_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;

/**
 * A body without a Content-Type is read as JSON, so bodiless POSTs (which node and undici
 * send as `content-length: 0` or chunked) just work. A declared type other than JSON (say
 * curl's default `application/x-www-form-urlencoded` for `-d`) is refused with 415.
 */
export function readsAsJson(req: IncomingMessage): boolean {
  const type = req.headers['content-type']?.trim();
  return !type || JSON_CONTENT_TYPE.test(type);
}

/** True when the request carries a body (chunked, or a non-zero Content-Length). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** No parameters, or only `charset=utf-8`: the body is plain UTF-8 JSON. */
const PLAIN_PARAMETERS = /^;\s*charset\s*=\s*"?utf-8"?\s*$/i;

/**
 * True for the common case this module reads itself: no Content-Encoding (or `identity`) and
 * UTF-8 text. Anything else (gzip, br, a UTF-16 charset, a charset we refuse) is left to
 * body-parser, which knows every encoding and says exactly what it refuses.
 */
export function isPlainUtf8(req: IncomingMessage): boolean {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  const type = req.headers['content-type'];
  if (type === undefined) return true;
  const semi = type.indexOf(';');
  return semi < 0 || PLAIN_PARAMETERS.test(type.slice(semi));
}

/**
 * Reads a plain UTF-8 JSON body (see {@link isPlainUtf8}) of at most `limit` bytes and parses
 * it; an empty body is `{}`, any JSON value is returned as parsed. A declared or actual size
 * over the limit rejects with a 413 and invalid JSON with a 400 — the same errors body-parser
 * gives — once the rest of the body has been read off, so the connection stays usable.
 */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) fail(bodyTooLarge(limit));
      else chunks.push(chunk);
    };
    const onEnd = () => {
      let text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
      // A UTF-8 byte order mark is not part of the JSON text (body-parser drops it too).
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.length === 0) {
        resolve({});
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        reject(invalidJsonBody((error as Error).message));
      }
    };
    // Refused: read the rest off and answer once it is in, as body-parser does.
    const fail = (error: McpmasError) => {
      req.off('data', onData);
      req.off('end', onEnd);
      if (req.readableEnded || req.destroyed) {
        reject(error);
        return;
      }
      req.once('end', () => reject(error));
      req.once('close', () => reject(error));
      req.resume();
    };
    // No 'error' listener: node emits none for an aborted request unless someone listens,
    // and a request whose client went away needs no answer; its promise is simply dropped.
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      fail(bodyTooLarge(limit, Number(declared)));
      return;
    }
    req.on('data', onData);
    req.on('end', onEnd);
  });
}

/**
 * Writes a JSON reply in one go: status, headers and body through `writeHead` and `end`, without
 * express's per-header `res.set` calls. Same headers as {@link sendJson}, plus `X-Request-Id`.
 */
export function writeJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  requestId: string,
  close: boolean,
): void {
  const text = JSON.stringify(body) ?? '';
  // A flat name, value, name, value list: node skips the for-in over an object (~0.2 µs).
  const headers: OutgoingHttpHeader[] = [
    'Content-Type',
    'application/json; charset=utf-8',
    'Content-Length',
    Buffer.byteLength(text),
    'Cache-Control',
    'no-store',
    'X-Request-Id',
    requestId,
  ];
  if (close) headers.push('Connection', 'close');
  res.writeHead(status, headers);
  res.end(text);
}

/** Sends `body` as JSON. Replies are never cached: they describe live state. */
export function sendJson(res: Response, status: number, body: unknown): void {
  res.status(status).set('Cache-Control', 'no-store').json(body);
}

/**
 * Sends `{ "error": … }` with the error's status, plus `WWW-Authenticate` on 401 and
 * `Retry-After` when the error says how long to wait (`details.retryAfterMs`). If the reply
 * has already started, the connection is cut instead: a half-sent body must not look whole.
 */
export function sendError(res: Response, error: McpmasError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = statusOf(error);
  if (status === 401) res.set('WWW-Authenticate', 'Bearer realm="mcpmas"');
  const retryAfterMs = error.details?.retryAfterMs;
  if (typeof retryAfterMs === 'number' && retryAfterMs > 0) {
    res.set('Retry-After', String(Math.ceil(retryAfterMs / 1000)));
  }
  sendJson(res, status, { error: error.toJSON() });
}

/**
 * Answers a request node's HTTP parser rejected before express saw it (malformed request
 * line, headers too large, request timeout) with a JSON error instead of node's bare reply.
 * For a node `http.Server`'s `clientError` event.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  let status = 400;
  let err: McpmasError = new ValidationError(`malformed HTTP request: ${error.message}`);
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    err = new ValidationError('request headers are too large');
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    err = new TimeoutError('the request was not received in time');
  }
  const body = JSON.stringify({ error: err.toJSON() });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
