/** The e-mail notifier: readable mails over SMTP, bursts batched into one digest. */
import type { ConnectionOptions } from 'node:tls';
import {
  ConfigError,
  type HubEvent,
  type Notifier,
  type NotifierBatching,
  UnavailableError,
} from '@mcpmas/core';
import nodemailer, { type Transporter } from 'nodemailer';
import { htmlBody, subject, textBody } from './format.js';

/** SMTP connection settings. */
export interface SmtpOptions {
  host: string;
  /** @default 465 when `secure`, else 587 */
  port?: number;
  /** TLS from the first byte (SMTPS, usually port 465). Otherwise STARTTLS is used when offered. @default false */
  secure?: boolean;
  /** Refuse to send unless the server upgrades with STARTTLS. @default false */
  requireTLS?: boolean;
  /** Credentials; both or neither. */
  auth?: { user: string; pass: string };
  /** node `tls` options: ca, servername, minVersion, rejectUnauthorized… */
  tls?: ConnectionOptions;
  /** Connect, greeting and socket timeouts. @default 10000 */
  timeoutMs?: number;
}

/** Options of {@link EmailNotifier}. */
export interface EmailNotifierOptions {
  /** Channel name; the outbox tracks acknowledgements under it. @default "email" */
  name?: string;
  smtp: SmtpOptions;
  /** Sender, `ops@example.com` or `"mcpmas hub" <ops@example.com>`. */
  from: string;
  /** One or more recipients. */
  to: string | string[];
  /** Prepended to every subject. @default "[mcpmas]" */
  subjectPrefix?: string;
  /** Names the hub in the body. @default "The mcpmas hub" */
  hubName?: string;
  /** Events arriving within this window of the first go out as one digest. @default 2000 */
  windowMs?: number;
  /** Most events in one mail; a larger burst is split. @default 1000 */
  maxEventsPerMail?: number;
  /** Attach the events as `mcpmas-events.json` for machine readers. @default true */
  attachJson?: boolean;
}

/** Defaults of {@link EmailNotifierOptions}. */
export const EMAIL_DEFAULTS = {
  name: 'email',
  subjectPrefix: '[mcpmas]',
  hubName: 'The mcpmas hub',
  windowMs: 2000,
  maxEventsPerMail: 1000,
  timeoutMs: 10_000,
} as const;

const ADDRESS = /^(?:[^<>]*<\s*)?[^\s@<>]+@[^\s@<>]+(?:\s*>)?$/;

interface Digest {
  events: HubEvent[];
  waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
  timer: NodeJS.Timeout;
}

/**
 * Mails hub events with a readable subject, a plain-text and an HTML body (and, by default,
 * the events as a JSON attachment).
 *
 * Bursts become one digest. `notify(event)` joins the open digest (opening one if needed) and
 * resolves when the mail carrying it has been accepted by the SMTP server, so the per-event
 * notify/ack contract holds: concurrent calls within `windowMs` share one mail. The hub's
 * delivery loop uses the batch path instead (`batching` + `notifyBatch`): it waits
 * `windowMs` after the first pending event, then hands over up to `maxEventsPerMail` events,
 * which go out as one mail at once; a mass eviction of a thousand agents is one mail.
 */
export class EmailNotifier implements Notifier {
  readonly name: string;
  readonly batching: NotifierBatching;
  private readonly transporter: Transporter;
  private readonly from: string;
  private readonly to: string[];
  private readonly prefix: string;
  private readonly hubName: string;
  private readonly attachJson: boolean;
  private open: Digest | undefined;
  private readonly sending = new Set<Promise<void>>();
  private closed = false;

  constructor(options: EmailNotifierOptions) {
    this.name = options.name ?? EMAIL_DEFAULTS.name;
    const where = `email notifier "${this.name}"`;
    if (!this.name.trim()) throw new ConfigError('email notifier: name must not be empty');
    const smtp = options.smtp;
    if (!smtp || typeof smtp.host !== 'string' || !smtp.host.trim()) {
      throw new ConfigError(`${where}: smtp.host is required`);
    }
    if (smtp.port !== undefined && (!Number.isInteger(smtp.port) || smtp.port < 1 || smtp.port > 65_535)) {
      throw new ConfigError(`${where}: smtp.port must be 1-65535, got ${smtp.port}`);
    }
    if (smtp.auth) {
      if (!smtp.auth.user)
        throw new ConfigError(`${where}: smtp.auth.user is required when smtp.auth is set`);
      if (!smtp.auth.pass)
        throw new ConfigError(`${where}: smtp.auth.pass is required when smtp.auth is set`);
    }
    if (typeof options.from !== 'string' || !ADDRESS.test(options.from)) {
      throw new ConfigError(`${where}: from must be an e-mail address, got ${JSON.stringify(options.from)}`);
    }
    const to = Array.isArray(options.to) ? options.to : [options.to];
    if (to.length === 0) throw new ConfigError(`${where}: to must name at least one recipient`);
    to.forEach((address, i) => {
      if (typeof address !== 'string' || !ADDRESS.test(address)) {
        throw new ConfigError(`${where}: to.${i} must be an e-mail address, got ${JSON.stringify(address)}`);
      }
    });
    const windowMs = options.windowMs ?? EMAIL_DEFAULTS.windowMs;
    if (!Number.isFinite(windowMs) || windowMs < 0) {
      throw new ConfigError(`${where}: windowMs must be 0 or more, got ${windowMs}`);
    }
    const maxEvents = options.maxEventsPerMail ?? EMAIL_DEFAULTS.maxEventsPerMail;
    if (!Number.isInteger(maxEvents) || maxEvents < 1) {
      throw new ConfigError(`${where}: maxEventsPerMail must be a positive integer, got ${maxEvents}`);
    }
    this.batching = { windowMs, maxEvents };
    this.from = options.from;
    this.to = to;
    this.prefix = options.subjectPrefix ?? EMAIL_DEFAULTS.subjectPrefix;
    this.hubName = options.hubName ?? EMAIL_DEFAULTS.hubName;
    this.attachJson = options.attachJson ?? true;
    const secure = smtp.secure ?? false;
    const timeout = smtp.timeoutMs ?? EMAIL_DEFAULTS.timeoutMs;
    this.transporter = nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port ?? (secure ? 465 : 587),
      secure,
      requireTLS: smtp.requireTLS ?? false,
      ...(smtp.auth ? { auth: { user: smtp.auth.user, pass: smtp.auth.pass } } : {}),
      ...(smtp.tls ? { tls: smtp.tls } : {}),
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
    });
  }

  /** Joins the open digest; resolves when the mail carrying `event` was accepted. */
  notify(event: HubEvent): Promise<void> {
    if (this.closed) return Promise.reject(new UnavailableError(`email notifier "${this.name}" is closed`));
    return new Promise<void>((resolve, reject) => {
      if (!this.open) {
        const timer = setTimeout(() => this.flush(), this.batching.windowMs);
        this.open = { events: [], waiters: [], timer };
      }
      this.open.events.push(event);
      this.open.waiters.push({ resolve, reject });
      if (this.open.events.length >= this.batching.maxEvents) this.flush();
    });
  }

  /** Sends `events` at once as one digest (several if over `maxEventsPerMail`). */
  async notifyBatch(events: HubEvent[]): Promise<void> {
    if (this.closed) throw new UnavailableError(`email notifier "${this.name}" is closed`);
    for (let i = 0; i < events.length; i += this.batching.maxEvents) {
      await this.track(this.send(events.slice(i, i + this.batching.maxEvents)));
    }
  }

  /** Sends the open digest, waits for mails in flight, then closes the SMTP pool. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    await Promise.allSettled([...this.sending]);
    this.transporter.close();
  }

  private flush(): void {
    const digest = this.open;
    if (!digest) return;
    this.open = undefined;
    clearTimeout(digest.timer);
    this.track(this.send(digest.events)).then(
      () => {
        for (const w of digest.waiters) w.resolve();
      },
      (error: unknown) => {
        for (const w of digest.waiters) w.reject(error);
      },
    );
  }

  private track(promise: Promise<void>): Promise<void> {
    this.sending.add(promise);
    void promise.catch(() => undefined).finally(() => this.sending.delete(promise));
    return promise;
  }

  private async send(events: HubEvent[]): Promise<void> {
    try {
      await this.transporter.sendMail({
        from: this.from,
        to: this.to,
        subject: subject(events, this.prefix),
        text: textBody(events, this.hubName),
        html: htmlBody(events, this.hubName),
        headers: { 'X-Mcpmas-Events': String(events.length) },
        ...(this.attachJson
          ? {
              attachments: [
                {
                  filename: 'mcpmas-events.json',
                  contentType: 'application/json',
                  content: JSON.stringify(events, null, 2),
                },
              ],
            }
          : {}),
      });
    } catch (error) {
      const responseCode = (error as { responseCode?: number }).responseCode;
      throw new UnavailableError(
        `email "${this.name}" could not send ${events.length === 1 ? `event ${events[0]!.id}` : `a digest of ${events.length} events`}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error, details: { channel: this.name, ...(responseCode ? { responseCode } : {}) } },
      );
    }
  }
}
