/**
 * `@mcpmas/notifier-rabbitmq`: publishes hub events to a RabbitMQ exchange.
 *
 * @packageDocumentation
 */
export {
  type ExchangeType,
  RABBITMQ_DEFAULTS,
  RabbitMqNotifier,
  type RabbitMqNotifierOptions,
} from './rabbitmq.js';
