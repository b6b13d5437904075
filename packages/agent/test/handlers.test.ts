import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDispatcher, createMemoryBackend, InProcessTransport, type LeasedTask } from '@mcpmas/core';
import {
  createEchoHandler,
  createOpenAIChatHandler,
  echoHandler,
  ModelAgent,
  type TaskContext,
  TaskFailure,
} from '../src/index.js';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

/**
 * A local server speaking the chat-completions API. The request's `model` picks the
 * behaviour, so one server covers every case.
 */
async function startFakeApi(): Promise<{ server: Server; baseUrl: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      raw += chunk;
    });
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      received.push({ path: req.url ?? '', headers: req.headers, body });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      const messages = body.messages as Array<{ content: string }>;
      switch (body.model) {
        case 'bad':
          return json(400, {
            error: { message: "Invalid value for 'messages'", type: 'invalid_request_error' },
          });
        case 'busy':
          res.setHeader('retry-after', '1');
          return json(429, { error: { message: 'Rate limit reached for requests', type: 'requests' } });
        case 'broken':
          return json(500, { error: { message: 'The server had an error', type: 'server_error' } });
        case 'html-502':
          res.writeHead(502, { 'content-type': 'text/html' });
          return res.end('<html>Bad Gateway</html>');
        case 'slow': {
          const timer = setTimeout(() => json(200, {}), 5000);
          res.on('close', () => clearTimeout(timer));
          return;
        }
        case 'garbage':
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end('{"choices": [ this is not json');
        case 'no-choices':
          return json(200, { id: 'x', model: 'no-choices' });
        case 'no-content':
          return json(200, { model: 'no-content', choices: [{ index: 0, message: { role: 'assistant' } }] });
        default:
          return json(200, {
            id: 'chatcmpl-1',
            object: 'chat.completion',
            model: `${String(body.model)}-2024`,
            choices: [
              {
                index: 0,
                message: { role: 'assistant', content: `you said: ${messages.at(-1)?.content}` },
                finish_reason: 'stop',
              },
            ],
            usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 },
          });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, baseUrl: `http://127.0.0.1:${port}/v1`, received };
}

function leased(payload: unknown): LeasedTask {
  return {
    taskId: 'task-1',
    capability: 'chat',
    payload,
    priority: 0,
    attempt: 1,
    leaseToken: 'token',
    leaseDeadline: Date.now() + 30_000,
    timeoutMs: 30_000,
    metadata: {},
  };
}

function contextWith(signal: AbortSignal = new AbortController().signal): TaskContext {
  return { agentId: 'agent-7', attempt: 2, signal, progress: async () => undefined };
}

/** Runs a handler expected to fail and returns the `TaskFailure` it threw. */
async function failureOf(run: unknown): Promise<TaskFailure> {
  const error = await Promise.resolve(run).then(
    () => {
      throw new Error('expected the handler to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TaskFailure);
  return error as TaskFailure;
}

describe('echoHandler', () => {
  it('returns the payload with the agent and attempt that ran it', async () => {
    await expect(echoHandler(leased({ text: 'hi' }), contextWith())).resolves.toEqual({
      echo: { text: 'hi' },
      agentId: 'agent-7',
      attempt: 2,
    });
  });

  it('with a delay, stops early when the task is aborted', async () => {
    const handler = createEchoHandler({ delayMs: 10_000 });
    const controller = new AbortController();
    const started = Date.now();
    const run = handler(leased('x'), contextWith(controller.signal));
    controller.abort();
    await expect(run).rejects.toThrow('aborted');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('refuses a negative delay', () => {
    expect(() => createEchoHandler({ delayMs: -1 })).toThrow('delayMs');
  });
});

describe('createOpenAIChatHandler', () => {
  let api: Awaited<ReturnType<typeof startFakeApi>>;
  beforeAll(async () => {
    api = await startFakeApi();
  });
  afterAll(async () => {
    api.server.closeAllConnections();
    await new Promise((resolve) => api.server.close(resolve));
  });

  const handlerFor = (model: string, extra: { timeoutMs?: number; apiKey?: string } = {}) =>
    createOpenAIChatHandler({ baseUrl: api.baseUrl, model, ...extra });

  it('sends the messages and returns content, model, usage and finish reason', async () => {
    const handler = createOpenAIChatHandler({
      baseUrl: `${api.baseUrl}/`,
      model: 'gpt-test',
      apiKey: 'sk-local',
      maxTokens: 64,
      temperature: 0.3,
    });
    const result = await handler(leased({ messages: [{ role: 'user', content: 'hello' }] }), contextWith());
    expect(result).toEqual({
      content: 'you said: hello',
      model: 'gpt-test-2024',
      usage: { promptTokens: 7, completionTokens: 4, totalTokens: 11 },
      finishReason: 'stop',
    });
    const request = api.received.at(-1)!;
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe('Bearer sk-local');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.body).toEqual({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hello' }],
      max_tokens: 64,
      temperature: 0.3,
    });
  });

  it('builds messages from prompt and system, and takes per-task model and temperature', async () => {
    const result = await handlerFor('default-model')(
      leased({ prompt: 'ping', system: 'be brief', model: 'task-model', temperature: 1.5, maxTokens: 5 }),
      contextWith(),
    );
    expect(result).toMatchObject({ content: 'you said: ping', model: 'task-model-2024' });
    const request = api.received.at(-1)!;
    expect(request.headers.authorization).toBeUndefined();
    expect(request.body).toEqual({
      model: 'task-model',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'ping' },
      ],
      temperature: 1.5,
      max_tokens: 5,
    });
  });

  it('400: fails without retry, with the API error message', async () => {
    const failure = await failureOf(handlerFor('bad')(leased({ prompt: 'x' }), contextWith()));
    expect(failure.retryable).toBe(false);
    expect(failure.code).toBe('UPSTREAM_REJECTED');
    expect(failure.message).toContain("Invalid value for 'messages'");
    expect(failure.message).toContain('400');
    expect(failure.details).toEqual({ status: 400, type: 'invalid_request_error' });
  });

  it('429: retryable rate-limit failure', async () => {
    const failure = await failureOf(handlerFor('busy')(leased({ prompt: 'x' }), contextWith()));
    expect(failure).toMatchObject({ retryable: true, code: 'RATE_LIMITED' });
    expect(failure.message).toContain('Rate limit reached');
  });

  it('500: retryable upstream failure with the API message', async () => {
    const failure = await failureOf(handlerFor('broken')(leased({ prompt: 'x' }), contextWith()));
    expect(failure).toMatchObject({ retryable: true, code: 'UPSTREAM_ERROR' });
    expect(failure.message).toContain('The server had an error');
  });

  it('a 5xx with a non-JSON body is retryable and shows the body', async () => {
    const failure = await failureOf(handlerFor('html-502')(leased({ prompt: 'x' }), contextWith()));
    expect(failure).toMatchObject({ retryable: true, code: 'UPSTREAM_ERROR' });
    expect(failure.message).toContain('Bad Gateway');
  });

  it('a slow server times out as a retryable failure within timeoutMs', async () => {
    const started = Date.now();
    const failure = await failureOf(
      handlerFor('slow', { timeoutMs: 200 })(leased({ prompt: 'x' }), contextWith()),
    );
    expect(failure).toMatchObject({ retryable: true, code: 'TIMEOUT' });
    expect(failure.message).toContain('200 ms');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('aborting the task aborts the request', async () => {
    const controller = new AbortController();
    const run = handlerFor('slow')(leased({ prompt: 'x' }), contextWith(controller.signal));
    setTimeout(() => controller.abort(new Error('task cancelled: by user')), 50);
    const started = Date.now();
    const failure = await failureOf(run);
    expect(failure.code).toBe('ABORTED');
    expect(failure.message).toContain('task cancelled: by user');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a connection error is retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const handler = createOpenAIChatHandler({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm' });
    const failure = await failureOf(handler(leased({ prompt: 'x' }), contextWith()));
    expect(failure).toMatchObject({ retryable: true, code: 'UPSTREAM_UNAVAILABLE' });
    expect(failure.message).toContain(`127.0.0.1:${port}`);
  });

  it('a garbage body is a non-retryable malformed reply', async () => {
    const failure = await failureOf(handlerFor('garbage')(leased({ prompt: 'x' }), contextWith()));
    expect(failure).toMatchObject({ retryable: false, code: 'MALFORMED_RESPONSE' });
    expect(failure.message).toContain('not JSON');
  });

  it.each([
    ['no-choices', '"choices" is missing'],
    ['no-content', '"choices[0].message.content" is missing'],
  ])('a reply without what it needs names the missing field (%s)', async (model, missing) => {
    const failure = await failureOf(handlerFor(model)(leased({ prompt: 'x' }), contextWith()));
    expect(failure).toMatchObject({ retryable: false, code: 'MALFORMED_RESPONSE' });
    expect(failure.message).toContain(missing);
  });

  it.each([
    ['a string', 'hello', 'must be an object'],
    ['neither messages nor prompt', { model: 'm' }, 'needs "messages" or "prompt"'],
    ['both messages and prompt', { prompt: 'a', messages: [{ role: 'user', content: 'b' }] }, 'not both'],
    ['an empty messages array', { messages: [] }, 'non-empty array'],
    ['a message without a role', { messages: [{ content: 'x' }] }, 'messages[0].role'],
    ['an unknown field', { prompt: 'x', temprature: 1 }, 'unknown field(s): temprature'],
    [
      'a temperature out of range',
      { prompt: 'x', temperature: 3 },
      'temperature must be a number from 0 to 2',
    ],
    ['a fractional maxTokens', { prompt: 'x', maxTokens: 1.5 }, 'maxTokens must be a positive integer'],
  ])('refuses a payload with %s, without calling the API', async (_label, payload, message) => {
    const before = api.received.length;
    const failure = await failureOf(handlerFor('ok')(leased(payload), contextWith()));
    expect(failure).toMatchObject({ retryable: false, code: 'INVALID_PAYLOAD' });
    expect(failure.message).toContain(message);
    expect(api.received.length).toBe(before);
  });

  it('refuses bad options at construction', () => {
    expect(() => createOpenAIChatHandler({ baseUrl: 'not a url', model: 'm' })).toThrow('baseUrl');
    expect(() => createOpenAIChatHandler({ baseUrl: 'ftp://x/v1', model: 'm' })).toThrow('http');
    expect(() => createOpenAIChatHandler({ baseUrl: api.baseUrl, model: '' })).toThrow('model');
    expect(() => createOpenAIChatHandler({ baseUrl: api.baseUrl, model: 'm', timeoutMs: 0 })).toThrow(
      'timeoutMs',
    );
  });

  it('inside a running agent, the task result and the classified failure reach the hub', async () => {
    const backend = createMemoryBackend();
    const dispatcher = createDispatcher({ registry: backend.registry, queue: backend.queue });
    const agent = new ModelAgent({
      transport: new InProcessTransport(dispatcher),
      name: 'chat-agent',
      skills: [{ id: 'chat', name: 'Chat' }],
      handler: handlerFor('ok'),
      pollWaitMs: 200,
    });
    await agent.start();
    try {
      const ctx = { protocol: 'test' };
      const ok = await dispatcher.call('task.submit', { capability: 'chat', payload: { prompt: 'hi' } }, ctx);
      const bad = await dispatcher.call(
        'task.submit',
        { capability: 'chat', payload: { prompt: 'hi', model: 'bad' } },
        ctx,
      );
      const done = await dispatcher.call('task.get', { taskId: ok.task.id, waitMs: 5000 }, ctx);
      expect(done.task.state).toBe('succeeded');
      expect(done.task.result).toMatchObject({ content: 'you said: hi', model: 'ok-2024' });
      const failed = await dispatcher.call('task.get', { taskId: bad.task.id, waitMs: 5000 }, ctx);
      expect(failed.task.state).toBe('failed');
      expect(failed.task.error).toMatchObject({ code: 'UPSTREAM_REJECTED', retryable: false });
    } finally {
      await agent.stop();
      dispatcher.close();
      await backend.close();
    }
  });
});
