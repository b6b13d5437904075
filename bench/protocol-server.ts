/**
 * The server side of bench:protocols, run as a child process so its CPU time is measured
 * apart from the clients': either a bare echo server of one protocol or a hub serving all
 * four. Prints one JSON line with its addresses; answers `{ cmd: 'stats' }` over IPC with its
 * CPU time and how many calls it served.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { GrpcServerAdapter } from '@mcpmas/adapter-grpc';
import { HttpServerAdapter } from '@mcpmas/adapter-http';
import { createMcpHttpHandler, mountMcp } from '@mcpmas/adapter-mcp';
import { WsServerAdapter } from '@mcpmas/adapter-ws';
import { createMemoryBackend } from '@mcpmas/core';
import { Hub } from '@mcpmas/hub';
import express from 'express';
import { WebSocketServer } from 'ws';
import { echoDefinition } from './grpc-echo.js';

const mode = process.argv[2] ?? 'hub';
let calls = 0;
/** Calls served so far: the echo servers count in `calls`, the hub in its own metrics. */
let countCalls = async () => calls;

async function echoHttp() {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function echoWs() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (s) =>
    s.on('message', (data) => {
      calls += 1;
      s.send(data);
    }),
  );
  await new Promise((r) => wss.once('listening', r));
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
}

async function echoGrpc() {
  const server = new grpc.Server();
  server.addService(echoDefinition, {
    echo: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      calls += 1;
      cb(null, call.request);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { address: `127.0.0.1:${port}` };
}

async function echoMcp() {
  // The same MCP SDK stack the hub uses, with an echo in place of the dispatcher.
  const endpoint = createMcpHttpHandler(async (_op, request) => {
    calls += 1;
    return { task: request };
  });
  const app = express();
  app.post('/mcp', endpoint.handler);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp` };
}

async function hub() {
  const http = new HttpServerAdapter({ port: 0, mount: (app) => void mountMcp(app, instance.dispatcher) });
  const ws = new WsServerAdapter({ port: 0 });
  const grpcServer = new GrpcServerAdapter({ port: 0 });
  const instance: Hub = new Hub({
    adapters: [http, ws, grpcServer],
    backend: createMemoryBackend({ queue: { resultTtlMs: 5_000, maxTerminalTasks: 10_000 } }),
  });
  await instance.start();
  // The hub counts its calls itself (mcpmas_operations_total): no plugin in the measured path.
  countCalls = async () => {
    const { values } = await instance.metrics.calls.get();
    return values.reduce((sum, v) => sum + v.value, 0);
  };
  return {
    http: http.address().url,
    mcp: `${http.address().url}/mcp`,
    ws: ws.address().url,
    grpc: grpcServer.address().address,
  };
}

const servers: Record<string, () => Promise<Record<string, string>>> = {
  'echo-http': echoHttp,
  'echo-ws': echoWs,
  'echo-grpc': echoGrpc,
  'echo-mcp': echoMcp,
  hub,
};

const start = servers[mode];
if (!start) throw new Error(`unknown mode ${mode}`);
const addresses = await start();
process.on('message', (msg: { cmd?: string }) => {
  if (msg.cmd === 'stats') {
    const cpu = process.cpuUsage();
    void countCalls().then((n) => process.send?.({ cpuUs: cpu.user + cpu.system, calls: n }));
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
console.log(JSON.stringify({ ready: true, ...addresses }));
