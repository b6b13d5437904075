/**
 * The WebHook signing scheme, shared by the sender and by receivers.
 *
 * Every request carries
 * - `X-Mcpmas-Timestamp`: Unix time in seconds when the request was signed;
 * - `X-Mcpmas-Signature`: `v1=` followed by the lowercase hex HMAC-SHA256, keyed with the
 *   shared secret, of the string `<timestamp>.<raw body>`.
 *
 * A receiver recomputes the HMAC over the exact bytes it received, compares in constant
 * time, and refuses timestamps too far from its clock (replays). Several `v1=` values,
 * comma-separated, may be present while a secret is being rotated; any match is accepted.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header holding the signing time (Unix seconds). */
export const TIMESTAMP_HEADER = 'x-mcpmas-timestamp';
/** Header holding `v1=<hex hmac>`. */
export const SIGNATURE_HEADER = 'x-mcpmas-signature';
/** Header holding the outbox event id, for receivers that de-duplicate. */
export const EVENT_ID_HEADER = 'x-mcpmas-event-id';
/** Header holding the event type. */
export const EVENT_TYPE_HEADER = 'x-mcpmas-event-type';

/** Computes the `v1=<hex>` signature of `body` signed at `timestamp` (Unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string | Buffer): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${timestamp}.`);
  hmac.update(body);
  return `v1=${hmac.digest('hex')}`;
}

/** Input of {@link verifyWebhookSignature}. */
export interface VerifyWebhookOptions {
  /** The shared secret. */
  secret: string;
  /** The raw request body exactly as received (do not re-serialise parsed JSON). */
  body: string | Buffer;
  /** The `X-Mcpmas-Timestamp` header value. */
  timestamp: string | undefined;
  /** The `X-Mcpmas-Signature` header value. */
  signature: string | undefined;
  /** Largest accepted distance between the timestamp and now, in seconds. @default 300 */
  toleranceSeconds?: number;
  /** The receiver's clock in epoch milliseconds. @default Date.now() */
  now?: number;
}

/**
 * Checks a received WebHook: true when the signature matches the body and timestamp and the
 * timestamp is within the tolerance. Never throws on malformed input (returns false).
 *
 * @example
 * ```ts
 * const ok = verifyWebhookSignature({
 *   secret: process.env.MCPMAS_WEBHOOK_SECRET!,
 *   body: rawBody,
 *   timestamp: req.headers['x-mcpmas-timestamp'],
 *   signature: req.headers['x-mcpmas-signature'],
 * });
 * ```
 */
export function verifyWebhookSignature(options: VerifyWebhookOptions): boolean {
  const { secret, body, timestamp, signature } = options;
  if (!secret || !timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  const now = (options.now ?? Date.now()) / 1000;
  if (Math.abs(now - ts) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWebhook(secret, ts, body));
  return signature
    .split(',')
    .map((s) => Buffer.from(s.trim()))
    .some((candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected));
}
