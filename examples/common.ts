/**
 * What the send-<protocol>-task and <protocol>-agent examples share: reading their flags and
 * the protocol-neutral part of their work. Each example only builds its protocol's client or
 * transport — the one line that differs between protocols — and hands it to these helpers.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { createEchoHandler, ModelAgent } from '@mcpmas/agent';
import {
  type AgentCommInterface,
  type HubClient,
  type LeasedTask,
  McpmasError,
  type RequestOf,
} from '@mcpmas/core';

/** The settings of a send-<protocol>-task example. */
export interface SendArgs {
  url: string;
  apiKey?: string;
  request: RequestOf<'task.submit'>;
  waitMs: number;
}

/**
 * Reads `[--url URL] [--api-key KEY] [--capability ID] [--priority P] [--wait-ms MS] [payload]`,
 * with `urlEnv`, `MCPMAS_API_KEY` and `MCPMAS_CAPABILITY` as fallbacks. Prints usage for
 * `--help` and exits 2 for bad flags.
 */
export function sendArgs(script: string, urlEnv: string, defaultUrl: string): SendArgs {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      options: {
        url: { type: 'string', default: process.env[urlEnv] ?? defaultUrl },
        'api-key': { type: 'string', default: process.env.MCPMAS_API_KEY },
        capability: { type: 'string', default: process.env.MCPMAS_CAPABILITY ?? 'echo' },
        priority: { type: 'string' },
        'wait-ms': { type: 'string', default: '60000' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    });
  }
  try {
    parsed = parse();
  } catch (error) {
    console.error(`${(error as Error).message}\nrun with --help for usage`);
    process.exit(2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(
      `usage: tsx examples/${script}.ts [--url URL] [--api-key KEY] [--capability ID] [--priority P] [--wait-ms MS] [payload]\n` +
        `  --url defaults to ${urlEnv} or ${defaultUrl}; --api-key to MCPMAS_API_KEY; --capability to MCPMAS_CAPABILITY or echo`,
    );
    process.exit(0);
  }
  const text = positionals.join(' ') || `"hello from ${script}"`;
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    payload = text;
  }
  const waitMs = Number(values['wait-ms']);
  if (!Number.isFinite(waitMs) || waitMs < 0) {
    console.error(`--wait-ms must be a number of milliseconds, got ${values['wait-ms']}`);
    process.exit(2);
  }
  const request: RequestOf<'task.submit'> = { capability: values.capability!, payload };
  if (values.priority !== undefined) {
    const p = values.priority;
    request.priority = /^-?\d+$/.test(p) ? Number(p) : (p as 'low' | 'normal' | 'high' | 'urgent');
  }
  return { url: values.url!, ...(values['api-key'] ? { apiKey: values['api-key'] } : {}), request, waitMs };
}

const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out', 'dead'];

/**
 * Submits the task, waits until it is done (or `waitMs` passes) and prints the outcome; sets
 * the exit code (0 when it succeeded, 1 otherwise) and closes the client.
 */
export async function sendTask(
  connect: () => HubClient | Promise<HubClient>,
  args: SendArgs,
  protocol: string,
): Promise<void> {
  let client: HubClient | undefined;
  try {
    client = await connect();
    const { task } = await client.submit(args.request);
    console.log(
      `submitted ${task.id} over ${protocol} (capability ${task.capability}, priority ${task.priority}); waiting…`,
    );
    // task.get waits at most 5 minutes per call; ask again until the task is done or time is up.
    const deadline = Date.now() + args.waitMs;
    let view = task;
    while (!TERMINAL.includes(view.state)) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      view = (await client.get({ taskId: task.id, waitMs: Math.min(left, 300_000) })).task;
    }
    console.log(`state: ${view.state}${view.agentId ? ` (agent ${view.agentId})` : ''}`);
    if (view.state === 'succeeded') console.log(JSON.stringify(view.result, null, 2));
    else if (view.error) console.log(`error: ${view.error.code ?? ''} ${view.error.message}`);
    process.exitCode = view.state === 'succeeded' ? 0 : 1;
  } catch (error) {
    const err = error instanceof McpmasError ? `${error.code}: ${error.message}` : String(error);
    console.error(`request failed: ${err}`);
    process.exitCode = 1;
  } finally {
    await client?.transport.stop();
  }
}

/** The settings of a <protocol>-agent example. */
export interface AgentArgs {
  url: string;
  apiKey?: string;
  name: string;
  skills: string[];
  concurrency: number;
  delayMs: number;
}

/**
 * Reads `[--url URL] [--api-key KEY] [--name NAME] [--skills a,b] [--concurrency N] [--delay-ms MS]`,
 * with `urlEnv` and `MCPMAS_API_KEY` as fallbacks.
 */
export function agentArgs(script: string, urlEnv: string, defaultUrl: string): AgentArgs {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      options: {
        url: { type: 'string', default: process.env[urlEnv] ?? defaultUrl },
        'api-key': { type: 'string', default: process.env.MCPMAS_API_KEY },
        name: { type: 'string', default: `${script}@${hostname()}` },
        skills: { type: 'string', default: 'echo' },
        concurrency: { type: 'string', default: '1' },
        'delay-ms': { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  }
  try {
    parsed = parse();
  } catch (error) {
    console.error(`${(error as Error).message}\nrun with --help for usage`);
    process.exit(2);
  }
  const { values } = parsed;
  if (values.help) {
    console.log(
      `usage: tsx examples/${script}.ts [--url URL] [--api-key KEY] [--name NAME] [--skills a,b] [--concurrency N] [--delay-ms MS]\n` +
        `  --url defaults to ${urlEnv} or ${defaultUrl}; --api-key to MCPMAS_API_KEY`,
    );
    process.exit(0);
  }
  return {
    url: values.url!,
    ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
    name: values.name!,
    skills: values
      .skills!.split(',')
      .map((id) => id.trim())
      .filter(Boolean),
    concurrency: Number(values.concurrency),
    delayMs: Number(values['delay-ms']),
  };
}

/**
 * Runs an echo agent over `transport` until Ctrl-C (SIGINT) or SIGTERM: it then drains,
 * unregisters and the process ends on its own.
 */
export async function runEchoAgent(transport: AgentCommInterface, args: AgentArgs): Promise<ModelAgent> {
  const log = (message: string) => console.log(`${new Date().toISOString()} ${args.name}: ${message}`);
  const agent = new ModelAgent({
    transport,
    name: args.name,
    skills: args.skills.map((id) => ({ id, name: id })),
    handler: createEchoHandler({ delayMs: args.delayMs }),
    concurrency: args.concurrency,
    handleSignals: true,
  });
  agent.on('task', (task: LeasedTask) =>
    log(`running ${task.taskId} (${task.capability}, priority ${task.priority})`),
  );
  agent.on('result', (taskId: string, outcome: { status: string }) => log(`${taskId} ${outcome.status}`));
  agent.on('disconnected', (error: Error) => log(`lost the hub (${error.message}); retrying`));
  agent.on('reconnected', () => log('hub reachable again'));
  agent.on('stopped', () => log('stopped'));

  log(`connecting to ${args.url} over ${transport.protocol}`);
  await agent.start();
  log(`registered as ${agent.agentId}; skills ${args.skills.join(',')}; Ctrl-C to stop`);
  return agent;
}

/** `grpc://host:port`, `grpcs://host:port` or plain `host:port` as gRPC takes it. */
export function grpcTarget(url: string): { address: string; tls: boolean } {
  const match = /^(grpcs?):\/\/([^/]+)\/?$/i.exec(url.trim());
  if (match) return { address: match[2]!, tls: match[1]!.toLowerCase() === 'grpcs' };
  return { address: url.trim(), tls: false };
}
