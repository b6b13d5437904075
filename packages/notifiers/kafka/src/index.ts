/**
 * `@mcpmas/notifier-kafka`: publishes hub events to an Apache Kafka topic.
 *
 * @packageDocumentation
 */
export { KAFKA_DEFAULTS, KafkaNotifier, type KafkaNotifierOptions, kafkaKey } from './kafka.js';
