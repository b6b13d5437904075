/**
 * Helpers for tests that need a real service (Redis, RabbitMQ, Kafka, SMTP). On a
 * developer's machine a missing service skips the tests with a message saying how to enable
 * them; with `CI=true` a missing service is a failure, never a skip.
 */
import { connect } from 'node:net';

/** True when running under CI (`CI=true`). */
export const isCI = /^(1|true|yes)$/i.test(process.env.CI ?? '');

/**
 * Probes a service. Resolves true when it answers; false (after a visible warning) when it
 * does not and we are not in CI; throws when it does not and we are in CI.
 */
export async function requireService(
  name: string,
  probe: () => Promise<unknown>,
  howToEnable: string,
): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    if (isCI) throw new Error(`${name} is required in CI but is not reachable (${why}). ${howToEnable}`);
    console.warn(
      `SKIPPED: ${name} is not reachable (${why}); its tests are skipped. To run them: ${howToEnable}`,
    );
    return false;
  }
}

/** Resolves when a TCP connection to `host:port` opens within `timeoutMs`. */
export function probeTcp(host: string, port: number, timeoutMs = 1000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out connecting to ${host}:${port}`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** A unique, readable prefix for one test's keys, queues or topics. */
export function uniquePrefix(label = 'test'): string {
  return `${label}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 5000,
  intervalMs = 20,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > end) {
      throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves after `ms`. */
export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
