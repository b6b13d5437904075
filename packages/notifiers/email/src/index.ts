/**
 * `@mcpmas/notifier-email`: e-mails hub events over SMTP, batching bursts into digests.
 *
 * @packageDocumentation
 */
export { EMAIL_DEFAULTS, EmailNotifier, type EmailNotifierOptions, type SmtpOptions } from './email.js';
export { counts, fields, headline, htmlBody, subject, textBody } from './format.js';
