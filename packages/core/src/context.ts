/**
 * {@link LazyCallContext}: a call context whose abort signal is made only when something reads it.
 */
import type { CallContext, Principal } from './interfaces.js';

/**
 * A {@link CallContext} whose `signal` is created the first time it is read. Most calls never
 * wait, and the dispatcher's long-polls listen through {@link LazyCallContext.onAbort}, so
 * most calls never pay for an AbortController and its event listeners — on a small call that
 * bookkeeping costs about as much as the dispatcher's own work.
 * {@link LazyCallContext.abort} before the first read makes the signal start out aborted.
 *
 * Adapters subclass it and override {@link LazyCallContext.watch} to listen for "the caller
 * went away" only once someone listens. `signal` is an accessor, so spreading the context
 * (`{ ...ctx }`) leaves it out; pass the context itself along.
 */
export class LazyCallContext implements CallContext {
  // `declare`: absent until set, as on a plain context object.
  declare credentials?: string;
  declare principal?: Principal;
  declare traceparent?: string;
  declare remoteAddress?: string;
  declare requestId?: string;
  // Private fields (not properties), so a plugin that logs or serialises the context sees only its data.
  #controller: AbortController | undefined;
  #listeners: Set<() => void> | undefined;
  #aborted = false;
  #watching = false;

  constructor(public protocol: string) {}

  /** Aborted when the caller goes away; created on first read. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort();
      else this.#watch();
    }
    return this.#controller.signal;
  }

  /** True once the call was aborted; reading it creates nothing. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /**
   * Calls `listener` once when the call is aborted (at once if it already is), without making
   * a signal. Returns a function that removes the listener.
   */
  onAbort(listener: () => void): () => void {
    if (!this.#aborted) this.#watch();
    if (this.#aborted) {
      listener();
      return () => undefined;
    }
    this.#listeners ??= new Set();
    this.#listeners.add(listener);
    return () => {
      this.#listeners?.delete(listener);
    };
  }

  /** Aborts the call: the signal if it exists, every `onAbort` listener, and the signal made later. */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#controller?.abort();
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners) for (const listener of listeners) listener();
  }

  /**
   * Called once, when the first listener arrives (a signal read or an `onAbort`) and the call
   * is not aborted yet: the place to start listening for the caller going away, and to call
   * {@link LazyCallContext.abort} then (or right away, if it has gone already).
   */
  protected watch(): void {}

  #watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    this.watch();
  }
}

/** True when the call of `context` was aborted, without making a lazy context's signal. */
export function isAborted(context: CallContext): boolean {
  return context instanceof LazyCallContext ? context.aborted : context.signal?.aborted === true;
}

/**
 * Calls `listener` once when the call of `context` is aborted; returns a remover. Listens on a
 * {@link LazyCallContext} directly (no AbortController), on `context.signal` otherwise.
 */
export function onAbort(context: CallContext, listener: () => void): () => void {
  if (context instanceof LazyCallContext) return context.onAbort(listener);
  const signal = context.signal;
  if (!signal) return () => undefined;
  if (signal.aborted) {
    listener();
    return () => undefined;
  }
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}
