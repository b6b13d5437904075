import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ConfigError, type McpmasError } from '@mcpmas/core';
import { eventually, notifierSuite, sampleEvent } from '@mcpmas/testkit';
import { type SmtpReceiver, startSmtpReceiver } from '@mcpmas/testkit/smtp';
import { EmailNotifier, type EmailNotifierOptions } from '../src/index.js';

const base = (port: number): EmailNotifierOptions => ({
  smtp: { host: '127.0.0.1', port, tls: { rejectUnauthorized: false }, timeoutMs: 3000 },
  from: '"mcpmas hub" <hub@example.test>',
  to: ['ops@example.test'],
  windowMs: 100,
});

notifierSuite(
  'email',
  async () => {
    const smtp = await startSmtpReceiver();
    const notifier = new EmailNotifier(base(smtp.port));
    return {
      notifier,
      received: async () =>
        smtp.mails.flatMap((m) =>
          m.events.map((e) => ({ id: e.id, type: e.type, data: e.data, text: m.mail.text })),
        ),
      breakDestination: async () => {
        smtp.refuse = true;
      },
      restoreDestination: async () => {
        smtp.refuse = false;
      },
      close: async () => {
        await notifier.close();
        await smtp.close();
      },
    };
  },
  { batch: true },
);

describe('EmailNotifier', () => {
  let smtp: SmtpReceiver;
  const notifiers: EmailNotifier[] = [];
  const make = (options: Partial<EmailNotifierOptions> = {}) => {
    const n = new EmailNotifier({ ...base(smtp.port), ...options });
    notifiers.push(n);
    return n;
  };
  beforeEach(async () => {
    smtp = await startSmtpReceiver({ users: { hub: 's3cret' } });
  });
  afterEach(async () => {
    for (const n of notifiers.splice(0)) await n.close();
    await smtp.close();
  });
  const auth = { user: 'hub', pass: 's3cret' };

  it('sends one readable mail per event: subject, text and HTML bodies, JSON attachment', async () => {
    const n = make({ smtp: { ...base(smtp.port).smtp, auth } });
    const event = sampleEvent('agent.evicted', {
      agentId: 'agent-7',
      name: 'gpu <worker> 7',
      lastHeartbeat: Date.UTC(2030, 0, 1),
      requeued: ['task-1', 'task-2'],
      dead: [],
    });
    await n.notify(event);
    expect(smtp.mails).toHaveLength(1);
    const { mail, events } = smtp.mails[0]!;
    expect(mail.subject).toBe('[mcpmas] Agent evicted: gpu <worker> 7 (agent-7), 2 tasks requeued');
    expect(mail.from?.text).toBe('"mcpmas hub" <hub@example.test>');
    expect(mail.text).toContain('requeued: task-1, task-2');
    expect(mail.text).toContain('lastHeartbeat: 2030-01-01T00:00:00.000Z');
    expect(mail.text).toContain(`event: agent.evicted ${event.id}`);
    expect(mail.html).toContain('gpu &lt;worker&gt; 7');
    expect(mail.html).not.toContain('<worker>');
    expect(events).toEqual([event]);
  });

  it('a mass eviction of 1000 agents within the window sends one digest, and every notify resolves', async () => {
    const n = make({ windowMs: 300, smtp: { ...base(smtp.port).smtp, auth } });
    const events = Array.from({ length: 1000 }, () => sampleEvent());
    await Promise.all(events.map((e) => n.notify(e)));
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0]!.mail.subject).toBe('[mcpmas] 1000 events: 1000 agents evicted');
    expect(smtp.mails[0]!.events.map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  it('notifyBatch sends at once as one mail, split at maxEventsPerMail', async () => {
    const n = make({ windowMs: 60_000, maxEventsPerMail: 2, smtp: { ...base(smtp.port).smtp, auth } });
    expect(n.batching).toEqual({ windowMs: 60_000, maxEvents: 2 });
    const events = [
      sampleEvent(),
      sampleEvent('task.dead', { taskId: 't-9', capability: 'echo', attempts: 3 }),
      sampleEvent(),
    ];
    await n.notifyBatch(events);
    expect(smtp.mails.map((m) => m.events.length)).toEqual([2, 1]);
    expect(smtp.mails[0]!.mail.subject).toBe('[mcpmas] 2 events: 1 agent evicted, 1 task dead-lettered');
  });

  it('uses STARTTLS with the given TLS options and authenticates', async () => {
    const n = make({ smtp: { ...base(smtp.port).smtp, requireTLS: true, auth } });
    await n.notify(sampleEvent());
    expect(smtp.mails[0]).toMatchObject({ secure: true, user: 'hub' });
  });

  it('rejects every notify of a digest the server refused, with a clear error', async () => {
    const n = make({ smtp: { ...base(smtp.port).smtp, auth: { user: 'hub', pass: 'wrong' } } });
    const results = await Promise.allSettled([n.notify(sampleEvent()), n.notify(sampleEvent())]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const error = (results[0] as PromiseRejectedResult).reason as McpmasError;
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toMatch(/email "email" could not send a digest of 2 events: Invalid login/);
    expect(smtp.mails).toHaveLength(0);
  });

  it('close sends the open digest before closing', async () => {
    const n = make({ windowMs: 60_000, smtp: { ...base(smtp.port).smtp, auth } });
    const pending = n.notify(sampleEvent());
    await n.close();
    await pending;
    await eventually(() => smtp.mails.length === 1);
  });

  it('refuses bad configuration naming the setting', () => {
    const ok = base(2525);
    expect(() => new EmailNotifier({ ...ok, smtp: { host: '' } })).toThrow(ConfigError);
    expect(() => new EmailNotifier({ ...ok, smtp: { host: '' } })).toThrow(
      /email notifier "email": smtp\.host is required/,
    );
    expect(() => new EmailNotifier({ ...ok, smtp: { host: 'h', auth: { user: 'u', pass: '' } } })).toThrow(
      /smtp\.auth\.pass is required/,
    );
    expect(() => new EmailNotifier({ ...ok, smtp: { host: 'h', port: 70_000 } })).toThrow(/smtp\.port/);
    expect(() => new EmailNotifier({ ...ok, from: 'nobody' })).toThrow(/from must be an e-mail address/);
    expect(() => new EmailNotifier({ ...ok, to: ['ok@x.test', 'broken'] })).toThrow(
      /to\.1 must be an e-mail address/,
    );
    expect(() => new EmailNotifier({ ...ok, to: [] })).toThrow(/to must name at least one recipient/);
    expect(() => new EmailNotifier({ ...ok, maxEventsPerMail: 0 })).toThrow(/maxEventsPerMail/);
  });
});
