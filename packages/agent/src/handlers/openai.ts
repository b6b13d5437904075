/**
 * An OpenAI-compatible chat-completions handler over undici: works with OpenAI and with any
 * server speaking `POST {baseUrl}/chat/completions` (vLLM, Ollama, llama.cpp, LM Studio, …).
 *
 * Failures are classified for the hub's retry budgets: rate limits, 5xx replies, timeouts
 * and connection errors are retryable; any other 4xx, an invalid payload and a malformed
 * reply are not (repeating the same request would fail the same way).
 */
import { type Dispatcher, request } from 'undici';
import { TaskFailure, type TaskHandler } from '../agent.js';

/** Options of {@link createOpenAIChatHandler}. */
export interface OpenAIChatHandlerOptions {
  /** API base URL, up to and including the version, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  /** Model used when a task names none, e.g. `gpt-4o-mini`. */
  model: string;
  /** Sent as `Authorization: Bearer <apiKey>`; local servers usually need none. */
  apiKey?: string;
  /** Longest time one completion may take, connection to last byte. @default 60000 */
  timeoutMs?: number;
  /** `max_tokens` when a task names none. @default the server's default */
  maxTokens?: number;
  /** `temperature` (0–2) when a task names none. @default the server's default */
  temperature?: number;
  /** Extra headers on every request (e.g. `api-key` for Azure, `HTTP-Referer` for OpenRouter). */
  headers?: Record<string, string>;
  /** undici dispatcher (a `ProxyAgent`, a `Pool` with your limits). @default undici's global one */
  dispatcher?: Dispatcher;
}

/** One chat message as the API takes it. */
export interface ChatMessage {
  role: string;
  /** Text, or the API's array of content parts. */
  content: unknown;
  name?: string;
  [field: string]: unknown;
}

/**
 * What a task's payload may hold: either `messages` or `prompt` (with an optional `system`),
 * and per-task overrides of the handler's `model`, `temperature` and `maxTokens`.
 */
export interface ChatPayload {
  messages?: ChatMessage[];
  prompt?: string;
  /** System message put before `prompt`. Only with `prompt`. */
  system?: string;
  model?: string;
  temperature?: number;
  maxTokens?: number;
}

/** Token counts reported by the server. */
export interface ChatUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** The result of a chat task. */
export interface ChatCompletionResult {
  /** The first choice's message text. */
  content: string;
  /** The model that answered, as the server names it. */
  model: string;
  /** Null when the server reports none. */
  usage: ChatUsage | null;
  /** `stop`, `length`, `content_filter`, …; null when the server reports none. */
  finishReason: string | null;
}

/** Default time one completion may take. */
export const DEFAULT_OPENAI_TIMEOUT_MS = 60_000;

const PAYLOAD_FIELDS = new Set(['messages', 'prompt', 'system', 'model', 'temperature', 'maxTokens']);

/**
 * Creates a handler that sends each task to an OpenAI-compatible chat-completions endpoint
 * and returns `{ content, model, usage, finishReason }`. Aborting the task (cancel, lost
 * lease, agent stop) aborts the HTTP request.
 *
 * @example
 * const handler = createOpenAIChatHandler({ baseUrl: 'http://127.0.0.1:11434/v1', model: 'llama3.2' });
 * // task payload: { "prompt": "Name three primes" } or { "messages": [{ "role": "user", "content": "Hi" }] }
 */
export function createOpenAIChatHandler(options: OpenAIChatHandlerOptions): TaskHandler {
  const endpoint = endpointOf(options.baseUrl);
  if (typeof options.model !== 'string' || options.model.trim() === '') {
    throw new TypeError('model must be a non-empty string');
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_OPENAI_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`timeoutMs must be a positive number, got ${options.timeoutMs}`);
  }
  if (options.maxTokens !== undefined) checkMaxTokens(options.maxTokens, TypeError, 'maxTokens');
  if (options.temperature !== undefined) checkTemperature(options.temperature, TypeError, 'temperature');
  const headers: Record<string, string> = {
    accept: 'application/json',
    ...options.headers,
    'content-type': 'application/json',
  };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;

  return async (task, context): Promise<ChatCompletionResult> => {
    const payload = parsePayload(task.payload);
    const model = payload.model ?? options.model;
    const body: Record<string, unknown> = { model, messages: payload.messages };
    const temperature = payload.temperature ?? options.temperature;
    if (temperature !== undefined) body.temperature = temperature;
    const maxTokens = payload.maxTokens ?? options.maxTokens;
    if (maxTokens !== undefined) body.max_tokens = maxTokens;

    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([context.signal, timeout]);
    let status: number;
    let text: string;
    try {
      // undici's own timers are off: the one timeout above bounds the whole exchange.
      const response = await request(endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal,
        headersTimeout: 0,
        bodyTimeout: 0,
        ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      if (context.signal.aborted) {
        throw new TaskFailure(`chat completion aborted: ${reasonOf(context.signal)}`, {
          code: 'ABORTED',
          retryable: true,
          cause: error,
        });
      }
      if (timeout.aborted) {
        throw new TaskFailure(`chat completion timed out after ${timeoutMs} ms`, {
          code: 'TIMEOUT',
          retryable: true,
          details: { timeoutMs },
          cause: error,
        });
      }
      const code = (error as { code?: unknown }).code;
      throw new TaskFailure(`cannot reach ${endpoint.origin}: ${(error as Error).message}`, {
        code: 'UPSTREAM_UNAVAILABLE',
        retryable: true,
        details: { url: endpoint.href, ...(typeof code === 'string' ? { errorCode: code } : {}) },
        cause: error,
      });
    }
    if (status < 200 || status >= 300) throw failureOf(status, text);
    return parseCompletion(text, model);
  };
}

function endpointOf(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(String(baseUrl));
  } catch (error) {
    throw new TypeError(`baseUrl is not a valid URL: ${String(baseUrl)}`, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`baseUrl must be an http: or https: URL, got ${url.protocol}`);
  }
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/chat/completions`;
  url.search = '';
  url.hash = '';
  return url;
}

type ErrorClass = new (message: string) => Error;

function checkMaxTokens(value: unknown, Err: ErrorClass, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Err(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
}

function checkTemperature(value: unknown, Err: ErrorClass, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 2) {
    throw new Err(`${name} must be a number from 0 to 2, got ${JSON.stringify(value)}`);
  }
}

/** A task failure for a payload this handler cannot send; never retried. */
class InvalidPayload extends TaskFailure {
  constructor(message: string) {
    super(`invalid chat payload: ${message}`, { code: 'INVALID_PAYLOAD', retryable: false });
  }
}

function parsePayload(payload: unknown): ChatPayload & { messages: ChatMessage[] } {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new InvalidPayload('the payload must be an object with "messages" or "prompt"');
  }
  const p = payload as Record<string, unknown>;
  const unknown = Object.keys(p).filter((key) => !PAYLOAD_FIELDS.has(key));
  if (unknown.length > 0) throw new InvalidPayload(`unknown field(s): ${unknown.join(', ')}`);
  if (p.model !== undefined && (typeof p.model !== 'string' || p.model === '')) {
    throw new InvalidPayload('model must be a non-empty string');
  }
  if (p.temperature !== undefined) checkTemperature(p.temperature, InvalidPayload, 'temperature');
  if (p.maxTokens !== undefined) checkMaxTokens(p.maxTokens, InvalidPayload, 'maxTokens');

  let messages: ChatMessage[];
  if (p.messages !== undefined) {
    if (p.prompt !== undefined || p.system !== undefined) {
      throw new InvalidPayload('give either "messages" or "prompt" (with an optional "system"), not both');
    }
    if (!Array.isArray(p.messages) || p.messages.length === 0) {
      throw new InvalidPayload('messages must be a non-empty array');
    }
    p.messages.forEach((message: unknown, i) => {
      if (message === null || typeof message !== 'object' || Array.isArray(message)) {
        throw new InvalidPayload(`messages[${i}] must be an object`);
      }
      const m = message as Record<string, unknown>;
      if (typeof m.role !== 'string' || m.role === '') {
        throw new InvalidPayload(`messages[${i}].role must be a non-empty string`);
      }
      if (!('content' in m)) throw new InvalidPayload(`messages[${i}].content is missing`);
    });
    messages = p.messages as ChatMessage[];
  } else if (p.prompt !== undefined) {
    if (typeof p.prompt !== 'string' || p.prompt === '') {
      throw new InvalidPayload('prompt must be a non-empty string');
    }
    if (p.system !== undefined && typeof p.system !== 'string') {
      throw new InvalidPayload('system must be a string');
    }
    messages = [
      ...(p.system ? [{ role: 'system', content: p.system }] : []),
      { role: 'user', content: p.prompt },
    ];
  } else {
    throw new InvalidPayload('the payload needs "messages" or "prompt"');
  }
  return { ...(p as ChatPayload), messages };
}

/** Turns a non-2xx reply into a failure: 429 and 5xx may succeed later, other codes will not. */
function failureOf(status: number, text: string): TaskFailure {
  const apiMessage = apiErrorMessage(text);
  const details = { status, ...(apiMessage.type ? { type: apiMessage.type } : {}) };
  if (status === 429) {
    return new TaskFailure(`chat completions API rate limit (429): ${apiMessage.message}`, {
      code: 'RATE_LIMITED',
      retryable: true,
      details,
    });
  }
  if (status >= 500) {
    return new TaskFailure(`chat completions API failed (${status}): ${apiMessage.message}`, {
      code: 'UPSTREAM_ERROR',
      retryable: true,
      details,
    });
  }
  return new TaskFailure(`chat completions API refused the request (${status}): ${apiMessage.message}`, {
    code: 'UPSTREAM_REJECTED',
    retryable: false,
    details,
  });
}

/** The API's own words: `{ "error": { "message", "type" } }` (or a string), else the body. */
function apiErrorMessage(text: string): { message: string; type?: string } {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    const error = body?.error;
    if (typeof error === 'string' && error) return { message: error };
    if (error && typeof error === 'object') {
      const e = error as { message?: unknown; type?: unknown };
      if (typeof e.message === 'string' && e.message) {
        return typeof e.type === 'string' ? { message: e.message, type: e.type } : { message: e.message };
      }
    }
    if (typeof body?.message === 'string' && body.message) return { message: body.message };
  } catch {
    // Not JSON: an HTML error page or a proxy's text; shown as it is below.
  }
  const trimmed = text.trim();
  if (!trimmed) return { message: 'no error message in the reply' };
  return { message: trimmed.length > 300 ? `${trimmed.slice(0, 300)}…` : trimmed };
}

/** A failure for a 2xx reply we cannot use; never retried. */
function malformed(what: string): TaskFailure {
  return new TaskFailure(`malformed chat completions reply: ${what}`, {
    code: 'MALFORMED_RESPONSE',
    retryable: false,
  });
}

function parseCompletion(text: string, requestedModel: string): ChatCompletionResult {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw malformed('the body is not JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw malformed('the body is not a JSON object');
  }
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.choices)) throw malformed('"choices" is missing or not an array');
  const choice = b.choices[0] as Record<string, unknown> | undefined;
  if (!choice || typeof choice !== 'object') throw malformed('"choices" is empty');
  const message = choice.message as Record<string, unknown> | undefined;
  if (!message || typeof message !== 'object') throw malformed('"choices[0].message" is missing');
  if (typeof message.content !== 'string') {
    throw malformed('"choices[0].message.content" is missing or not a string');
  }
  return {
    content: message.content,
    model: typeof b.model === 'string' && b.model ? b.model : requestedModel,
    usage: usageOf(b.usage),
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null,
  };
}

function usageOf(usage: unknown): ChatUsage | null {
  if (!usage || typeof usage !== 'object') return null;
  const u = usage as Record<string, unknown>;
  const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
  const promptTokens = count(u.prompt_tokens);
  const completionTokens = count(u.completion_tokens);
  const totalTokens = typeof u.total_tokens === 'number' ? u.total_tokens : promptTokens + completionTokens;
  return { promptTokens, completionTokens, totalTokens };
}

function reasonOf(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason.message;
  return reason === undefined ? 'the task was aborted' : String(reason);
}
