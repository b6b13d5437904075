/** The IM notifier: one readable message per event to a Slack, DingTalk, Feishu or WeCom bot. */
import { ConfigError, type HubEvent, type Notifier, UnavailableError } from '@mcpmas/core';
import { Agent, type Dispatcher, request } from 'undici';
import { buildRequest, IM_PLATFORMS, type ImPlatform, platformError } from './platforms.js';

/** Options of {@link ImNotifier}. */
export interface ImNotifierOptions {
  /** Channel name; the outbox tracks acknowledgements under it. @default the platform name */
  name?: string;
  platform: ImPlatform;
  /**
   * The bot's incoming-webhook URL as the platform gives it: Slack
   * `https://hooks.slack.com/services/…`, DingTalk `…/robot/send?access_token=…`, Feishu/Lark
   * `…/open-apis/bot/v2/hook/…`, WeCom `…/cgi-bin/webhook/send?key=…`.
   */
  url: string;
  /** Signing secret of a DingTalk or Feishu bot with signature verification on. */
  secret?: string;
  /** Prepended to every message title. @default "[mcpmas]" */
  titlePrefix?: string;
  /** Request deadline. @default 5000 */
  timeoutMs?: number;
  /** undici dispatcher to send through (proxy, custom TLS). @default a private `Agent` */
  dispatcher?: Dispatcher;
}

/** Defaults of {@link ImNotifierOptions}. */
export const IM_DEFAULTS = { titlePrefix: '[mcpmas]', timeoutMs: 5000 } as const;

/**
 * Posts each event as a readable message (title, one line per field, the event id) in the
 * platform's incoming-webhook format, signing DingTalk and Feishu requests when a secret is
 * set. A request counts as delivered only if the platform's answer says so (they answer HTTP
 * 200 with an error code); otherwise `notify` throws and the hub's delivery loop retries.
 */
export class ImNotifier implements Notifier {
  readonly name: string;
  readonly platform: ImPlatform;
  private readonly url: URL;
  private readonly secret: string | undefined;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly abort = new AbortController();
  private closed = false;

  constructor(options: ImNotifierOptions) {
    if (!IM_PLATFORMS.includes(options.platform)) {
      throw new ConfigError(
        `im notifier: platform must be one of ${IM_PLATFORMS.join(', ')}, got ${JSON.stringify(options.platform)}`,
      );
    }
    this.platform = options.platform;
    this.name = options.name ?? options.platform;
    const where = `im notifier "${this.name}"`;
    if (!this.name.trim()) throw new ConfigError('im notifier: name must not be empty');
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new ConfigError(
        `${where}: url must be an absolute http(s) URL, got ${JSON.stringify(options.url)}`,
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new ConfigError(`${where}: url must use http or https, got "${url.protocol}"`);
    }
    if (this.platform === 'dingtalk' && !url.searchParams.get('access_token')) {
      throw new ConfigError(`${where}: url must carry the robot's access_token query parameter`);
    }
    if (this.platform === 'wecom' && !url.searchParams.get('key')) {
      throw new ConfigError(`${where}: url must carry the robot's key query parameter`);
    }
    if (options.secret !== undefined) {
      if (this.platform !== 'dingtalk' && this.platform !== 'feishu') {
        throw new ConfigError(`${where}: secret applies to dingtalk and feishu only, not ${this.platform}`);
      }
      if (!options.secret) throw new ConfigError(`${where}: secret must not be empty when set`);
    }
    const timeoutMs = options.timeoutMs ?? IM_DEFAULTS.timeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
      throw new ConfigError(`${where}: timeoutMs must be a positive integer, got ${timeoutMs}`);
    }
    this.url = url;
    this.secret = options.secret;
    this.prefix = options.titlePrefix ?? IM_DEFAULTS.titlePrefix;
    this.timeoutMs = timeoutMs;
    this.ownsDispatcher = !options.dispatcher;
    this.dispatcher = options.dispatcher ?? new Agent({ connectTimeout: timeoutMs });
  }

  /** Posts one event; resolves once the platform accepted it. */
  async notify(event: HubEvent): Promise<void> {
    if (this.closed) throw new UnavailableError(`im notifier "${this.name}" is closed`);
    const { url, body } = buildRequest(this.platform, this.url, event, {
      prefix: this.prefix,
      secret: this.secret,
      now: Date.now(),
    });
    const fail = (what: string, cause?: unknown) =>
      new UnavailableError(`${this.platform} "${this.name}" did not take event ${event.id}: ${what}`, {
        cause,
        details: { channel: this.name, platform: this.platform },
      });
    let status: number;
    let text: string;
    const deadline = AbortSignal.timeout(this.timeoutMs);
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.dispatcher,
        signal: AbortSignal.any([this.abort.signal, deadline]),
        headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'mcpmas-im/1' },
        body: JSON.stringify(body),
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      const reason = deadline.aborted
        ? `no answer within ${this.timeoutMs} ms`
        : error instanceof Error
          ? error.message
          : String(error);
      throw fail(reason, error);
    }
    if (status < 200 || status >= 300) throw fail(`HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`);
    const rejected = platformError(this.platform, text);
    if (rejected) throw fail(rejected);
  }

  /** Ends a request in flight and closes the private connection pool. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    if (this.ownsDispatcher) await this.dispatcher.close().catch(() => undefined);
  }
}
