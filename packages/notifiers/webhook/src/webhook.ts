/** The WebHook notifier: signed JSON POSTs with bounded retries and dead-endpoint disabling. */
import {
  type BackoffOptions,
  backoffDelay,
  ConfigError,
  type HubEvent,
  type Notifier,
  UnavailableError,
} from '@mcpmas/core';
import { Agent, type Dispatcher, request } from 'undici';
import {
  EVENT_ID_HEADER,
  EVENT_TYPE_HEADER,
  SIGNATURE_HEADER,
  signWebhook,
  TIMESTAMP_HEADER,
} from './signature.js';

/** Options of {@link WebhookNotifier}. */
export interface WebhookNotifierOptions {
  /** Channel name; the outbox tracks acknowledgements under it. @default "webhook" */
  name?: string;
  /** Absolute http(s) URL the events are POSTed to. */
  url: string;
  /** Shared secret for the HMAC-SHA256 signature (see `verifyWebhookSignature`). */
  secret: string;
  /** Extra request headers (e.g. an `Authorization` the receiver wants). @default {} */
  headers?: Record<string, string>;
  /** Per-request deadline, connect to end of response. @default 5000 */
  timeoutMs?: number;
  /** Requests per `notify`, the first included; bounded so one event cannot stall a channel. @default 4 */
  maxAttempts?: number;
  /** Backoff between attempts inside one `notify`. @default 250 ms doubling to 5 s, jitter 0.2 */
  backoff?: BackoffOptions;
  /** Consecutive failed `notify` calls after which the endpoint is disabled. @default 5 */
  disableAfterFailures?: number;
  /** How long a disabled endpoint is left alone before one trial delivery. @default 60000 */
  cooldownMs?: number;
  /** Called whenever the endpoint is disabled or recovers. */
  onStateChange?: (state: WebhookState) => void;
  /** undici dispatcher to send through (proxy, custom TLS). @default a private `Agent` */
  dispatcher?: Dispatcher;
}

/** The endpoint's health as the notifier sees it. */
export interface WebhookState {
  channel: string;
  /** `disabled` until `disabledUntil`, then one trial delivery decides. */
  status: 'active' | 'disabled';
  /** Consecutive failed deliveries. */
  consecutiveFailures: number;
  disabledUntil?: number;
  lastError?: string;
  lastSuccessAt?: number;
}

/** Defaults of {@link WebhookNotifierOptions}. */
export const WEBHOOK_DEFAULTS = {
  name: 'webhook',
  timeoutMs: 5000,
  maxAttempts: 4,
  backoff: { baseMs: 250, maxMs: 5000, jitter: 0.2 } satisfies BackoffOptions,
  disableAfterFailures: 5,
  cooldownMs: 60_000,
} as const;

/** A failed attempt; `retryable` false for answers a retry cannot change (most 4xx). */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * POSTs each event as JSON (`{ id, type, at, data }`) with `X-Mcpmas-Timestamp`,
 * `X-Mcpmas-Signature` (HMAC-SHA256 over `timestamp.body`), `X-Mcpmas-Event-Id` and
 * `X-Mcpmas-Event-Type`. Any 2xx is success. Failures (network, timeout, 5xx, 408, 429) are
 * retried inside `notify` with exponential backoff and jitter, up to `maxAttempts`; after
 * `disableAfterFailures` failed deliveries in a row the endpoint is disabled for `cooldownMs`,
 * during which `notify` throws an `UnavailableError` whose `details.disabledUntil` the hub's
 * delivery loop shows and waits for.
 */
export class WebhookNotifier implements Notifier {
  readonly name: string;
  private readonly url: URL;
  private readonly secret: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoff: BackoffOptions;
  private readonly disableAfter: number;
  private readonly cooldownMs: number;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly onStateChange: ((state: WebhookState) => void) | undefined;
  private readonly abort = new AbortController();
  private current: WebhookState;
  private closed = false;

  constructor(options: WebhookNotifierOptions) {
    this.name = options.name ?? WEBHOOK_DEFAULTS.name;
    const where = `webhook notifier "${this.name}"`;
    if (!this.name.trim()) throw new ConfigError('webhook notifier: name must not be empty');
    this.url = parseHttpUrl(options.url, `${where}: url`);
    if (typeof options.secret !== 'string' || options.secret.length === 0) {
      throw new ConfigError(`${where}: secret is required (it signs every request)`);
    }
    this.secret = options.secret;
    this.headers = options.headers ?? {};
    this.timeoutMs = positive(options.timeoutMs, WEBHOOK_DEFAULTS.timeoutMs, `${where}: timeoutMs`);
    this.maxAttempts = positive(options.maxAttempts, WEBHOOK_DEFAULTS.maxAttempts, `${where}: maxAttempts`);
    this.disableAfter = positive(
      options.disableAfterFailures,
      WEBHOOK_DEFAULTS.disableAfterFailures,
      `${where}: disableAfterFailures`,
    );
    this.cooldownMs = positive(options.cooldownMs, WEBHOOK_DEFAULTS.cooldownMs, `${where}: cooldownMs`);
    this.backoff = { ...WEBHOOK_DEFAULTS.backoff, ...options.backoff };
    this.onStateChange = options.onStateChange;
    this.ownsDispatcher = !options.dispatcher;
    this.dispatcher = options.dispatcher ?? new Agent({ connectTimeout: this.timeoutMs });
    this.current = { channel: this.name, status: 'active', consecutiveFailures: 0 };
  }

  /** The endpoint's current health (a copy). */
  state(): WebhookState {
    return { ...this.current };
  }

  /**
   * Delivers one event; resolves on a 2xx. Throws `UnavailableError` after the last attempt
   * fails, or at once while the endpoint is disabled.
   */
  async notify(event: HubEvent): Promise<void> {
    if (this.closed) throw new UnavailableError(`webhook notifier "${this.name}" is closed`);
    const now = Date.now();
    if (this.current.status === 'disabled' && this.current.disabledUntil! > now) {
      throw new UnavailableError(
        `webhook "${this.name}" is disabled after ${this.current.consecutiveFailures} consecutive ` +
          `failed deliveries until ${new Date(this.current.disabledUntil!).toISOString()}; ` +
          `last error: ${this.current.lastError}`,
        { details: this.errorDetails() },
      );
    }
    // Past the cool-down a single attempt decides: a still-dead endpoint is disabled again
    // at once instead of costing a full round of retries.
    const attempts = this.current.status === 'disabled' ? 1 : this.maxAttempts;
    const body = JSON.stringify({ id: event.id, type: event.type, at: event.at, data: event.data });
    let lastError: AttemptError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await this.post(event, body);
        this.succeeded();
        return;
      } catch (error) {
        lastError = error instanceof AttemptError ? error : new AttemptError(describe(error), !this.closed);
        if (!lastError.retryable || attempt === attempts || this.closed) break;
        const wait = Math.max(backoffDelay(attempt, this.backoff), lastError.retryAfterMs ?? 0);
        await sleep(Math.min(wait, this.backoff.maxMs), this.abort.signal);
      }
    }
    this.failed(lastError!.message);
    throw new UnavailableError(
      `webhook "${this.name}" delivery of event ${event.id} failed: ${lastError!.message}`,
      {
        details: this.errorDetails(),
        cause: lastError,
      },
    );
  }

  /** Ends pending retries and closes the private connection pool. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    if (this.ownsDispatcher) await this.dispatcher.close().catch(() => undefined);
  }

  private async post(event: HubEvent, body: string): Promise<void> {
    const timestamp = Math.floor(Date.now() / 1000);
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timeoutMs)]);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(this.url, {
        method: 'POST',
        dispatcher: this.dispatcher,
        signal,
        headers: {
          'user-agent': 'mcpmas-webhook/1',
          ...this.headers,
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signWebhook(this.secret, timestamp, body),
          [EVENT_ID_HEADER]: event.id,
          [EVENT_TYPE_HEADER]: event.type,
        },
        body,
      });
    } catch (error) {
      if (signal.aborted && !this.abort.signal.aborted) {
        throw new AttemptError(`no answer within ${this.timeoutMs} ms`, true);
      }
      throw new AttemptError(describe(error), !this.abort.signal.aborted);
    }
    // Read (a bounded part of) the body so the connection is reused and errors can be shown.
    const text = await response.body.text().catch(() => '');
    const status = response.statusCode;
    if (status >= 200 && status < 300) return;
    const retryable = status >= 500 || status === 408 || status === 429;
    throw new AttemptError(
      `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`,
      retryable,
      retryAfter(response.headers['retry-after']),
    );
  }

  private succeeded(): void {
    const wasDisabled = this.current.status === 'disabled';
    this.current = {
      channel: this.name,
      status: 'active',
      consecutiveFailures: 0,
      lastSuccessAt: Date.now(),
    };
    if (wasDisabled) this.onStateChange?.(this.state());
  }

  private failed(message: string): void {
    const failures = this.current.consecutiveFailures + 1;
    this.current = { ...this.current, consecutiveFailures: failures, lastError: message };
    if (failures >= this.disableAfter) {
      this.current.status = 'disabled';
      this.current.disabledUntil = Date.now() + this.cooldownMs;
      this.onStateChange?.(this.state());
    }
  }

  private errorDetails(): Record<string, unknown> {
    const details: Record<string, unknown> = {
      channel: this.name,
      status: this.current.status,
      consecutiveFailures: this.current.consecutiveFailures,
    };
    if (this.current.status === 'disabled') details.disabledUntil = this.current.disabledUntil;
    return details;
  }
}

function parseHttpUrl(value: unknown, setting: string): URL {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new ConfigError(`${setting} must be an absolute http(s) URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${setting} must use http or https, got "${url.protocol}"`);
  }
  return url;
}

function positive(value: number | undefined, fallback: number, setting: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`${setting} must be a positive integer, got ${value}`);
  }
  return value;
}

function retryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: string }).code;
    return code ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
