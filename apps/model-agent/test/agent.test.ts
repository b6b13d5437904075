import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpServerAdapter } from '@mcpmas/adapter-http';
import { type CallContext, createMemoryBackend } from '@mcpmas/core';
import { Hub } from '@mcpmas/hub';
import { pino } from 'pino';
import { loadAgentConfig, startAgent } from '../src/index.js';

// In-process: a hub on an HTTP port, a local chat-completions server, and agents started from
// configurations exactly as the CLI would start them.
const ctx: CallContext = { protocol: 'test' };
const quiet = pino({ level: 'silent' });
let hub: Hub;
let hubUrl: string;
let chat: Server;
let chatUrl: string;

beforeAll(async () => {
  const http = new HttpServerAdapter({ port: 0 });
  hub = new Hub({ backend: createMemoryBackend(), adapters: [http] });
  await hub.start();
  hubUrl = http.address().url;
  chat = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => {
      raw += chunk.toString('utf8');
    });
    req.on('end', () => {
      const body = JSON.parse(raw) as { model: string; messages: Array<{ content: string }> };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          model: body.model,
          choices: [
            {
              message: { role: 'assistant', content: body.messages.at(-1)!.content.toUpperCase() },
              finish_reason: 'stop',
            },
          ],
          usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => chat.listen(0, '127.0.0.1', resolve));
  chatUrl = `http://127.0.0.1:${(chat.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  await hub.stop();
  chat.closeAllConnections();
  await new Promise((resolve) => chat.close(resolve));
});

describe('startAgent', () => {
  it('runs the openai handler against an OpenAI-compatible server', async () => {
    const { config } = loadAgentConfig(
      ['--hub-url', hubUrl, '--handler', 'openai', '--openai-base-url', chatUrl, '--poll-wait-ms', '500'],
      { MCPMAS_OPENAI_MODEL: 'tiny-llm', MCPMAS_AGENT_NAME: 'llm-1' },
      process.cwd(),
    );
    const running = await startAgent(config, { logger: quiet });
    try {
      const { agents } = await hub.dispatcher.call('agents.status', {}, ctx);
      expect(agents.find((a) => a.id === running.agentId)).toMatchObject({
        name: 'llm-1',
        skills: [{ id: 'chat' }],
        metadata: { handler: 'openai', model: 'tiny-llm' },
      });
      const { task } = await hub.dispatcher.call(
        'task.submit',
        { capability: 'chat', payload: { prompt: 'quiet please' } },
        ctx,
      );
      const done = await hub.dispatcher.call('task.get', { taskId: task.id, waitMs: 5000 }, ctx);
      expect(done.task.state).toBe('succeeded');
      expect(done.task.result).toEqual({
        content: 'QUIET PLEASE',
        model: 'tiny-llm',
        usage: { promptTokens: 3, completionTokens: 3, totalTokens: 6 },
        finishReason: 'stop',
      });
    } finally {
      await running.stop();
    }
    const { agents } = await hub.dispatcher.call('agents.status', {}, ctx);
    expect(agents.map((a) => a.id)).not.toContain(running.agentId);
  });

  it('keeps its configured id and echoes with a delay', async () => {
    const { config } = loadAgentConfig(
      ['--hub-url', hubUrl, '--agent-id', 'echo-fixed-1', '--echo-delay-ms', '50', '--poll-wait-ms', '500'],
      {},
      process.cwd(),
    );
    const running = await startAgent(config, { logger: quiet });
    try {
      expect(running.agentId).toBe('echo-fixed-1');
      const { task } = await hub.dispatcher.call('task.submit', { capability: 'echo', payload: 42 }, ctx);
      const done = await hub.dispatcher.call('task.get', { taskId: task.id, waitMs: 5000 }, ctx);
      expect(done.task.result).toEqual({ echo: 42, agentId: 'echo-fixed-1', attempt: 1 });
    } finally {
      await running.stop();
    }
  });
});
