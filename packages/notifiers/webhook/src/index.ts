/**
 * `@mcpmas/notifier-webhook`: delivers hub events as signed JSON WebHooks.
 *
 * @packageDocumentation
 */
export {
  EVENT_ID_HEADER,
  EVENT_TYPE_HEADER,
  SIGNATURE_HEADER,
  signWebhook,
  TIMESTAMP_HEADER,
  type VerifyWebhookOptions,
  verifyWebhookSignature,
} from './signature.js';
export {
  WEBHOOK_DEFAULTS,
  WebhookNotifier,
  type WebhookNotifierOptions,
  type WebhookState,
} from './webhook.js';
