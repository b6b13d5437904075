import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ConfigError, type McpmasError } from '@mcpmas/core';
import {
  type HttpReceiver,
  notifierSuite,
  type ReceivedNotification,
  type ReceivedRequest,
  type ReceiverReply,
  sampleEvent,
  startHttpReceiver,
} from '@mcpmas/testkit';
import { ImNotifier, type ImPlatform } from '../src/index.js';

const SECRET = 'SECtest0123456789abcdef';

/** The message text a platform would show, from the body it received. */
function textOf(platform: ImPlatform, body: Record<string, unknown>): string {
  const markdown = body.markdown as { text?: string; content?: string } | undefined;
  switch (platform) {
    case 'slack':
      return String(body.text);
    case 'dingtalk':
      return String(markdown?.text);
    case 'wecom':
      return String(markdown?.content);
    case 'feishu': {
      const post = (
        body.content as { post: { zh_cn: { title: string; content: Array<Array<{ text: string }>> } } }
      ).post.zh_cn;
      return [post.title, ...post.content.map((line) => line.map((s) => s.text).join(''))].join('\n');
    }
  }
}

/** Decodes a received message back to the event it reports (the footer names id and type). */
export function decode(platform: ImPlatform, request: ReceivedRequest): ReceivedNotification {
  const text = textOf(platform, JSON.parse(request.body));
  const footer = /event: (\S+) (\S+)/.exec(text);
  return { type: footer?.[1] ?? '?', id: footer?.[2] ?? '?', text };
}

/**
 * Answers as the platform does: signatures checked as its documentation describes (computed
 * here independently of the notifier), errors as HTTP 200 with a code, except Slack.
 */
function platformReply(platform: ImPlatform, request: ReceivedRequest, broken: boolean): ReceiverReply {
  const url = new URL(request.url, 'http://x');
  const body = JSON.parse(request.body);
  if (platform === 'slack') return broken ? { status: 404, body: 'no_service' } : { status: 200, body: 'ok' };
  if (platform === 'dingtalk') {
    const ts = url.searchParams.get('timestamp') ?? '';
    const expected = createHmac('sha256', SECRET).update(`${ts}\n${SECRET}`).digest('base64');
    if (url.searchParams.get('sign') !== expected || Math.abs(Number(ts) - Date.now()) > 3_600_000) {
      return { status: 200, body: { errcode: 310000, errmsg: 'sign not match' } };
    }
    if (broken)
      return { status: 200, body: { errcode: 130101, errmsg: 'send too fast, exceed 20 times per minute' } };
    return { status: 200, body: { errcode: 0, errmsg: 'ok' } };
  }
  if (platform === 'feishu') {
    const expected = createHmac('sha256', `${body.timestamp}\n${SECRET}`).update('').digest('base64');
    if (body.sign !== expected)
      return { status: 200, body: { code: 19021, msg: 'sign match fail', data: {} } };
    if (broken) return { status: 200, body: { code: 9499, msg: 'Bad Request', data: {} } };
    return { status: 200, body: { code: 0, msg: 'success', data: {} } };
  }
  if (url.searchParams.get('key') !== 'k-1')
    return { status: 200, body: { errcode: 93000, errmsg: 'invalid webhook url' } };
  if (broken) return { status: 200, body: { errcode: 45009, errmsg: 'api freq out of limit' } };
  return { status: 200, body: { errcode: 0, errmsg: 'ok' } };
}

const PATHS: Record<ImPlatform, string> = {
  slack: '/services/T000/B000/XXXX',
  dingtalk: '/robot/send?access_token=tok-1',
  feishu: '/open-apis/bot/v2/hook/hook-1',
  wecom: '/cgi-bin/webhook/send?key=k-1',
};
const secretFor = (p: ImPlatform) => (p === 'dingtalk' || p === 'feishu' ? SECRET : undefined);

for (const platform of ['slack', 'dingtalk', 'feishu', 'wecom'] as const) {
  notifierSuite(`im (${platform})`, async () => {
    const receiver = await startHttpReceiver();
    let broken = false;
    const accepted: boolean[] = [];
    receiver.respond((request) => {
      const reply = platformReply(platform, request, broken);
      const body = reply.body as { errcode?: number; code?: number } | string;
      accepted.push(
        reply.status === 200 && (typeof body === 'string' ? body === 'ok' : !body.errcode && !body.code),
      );
      return reply;
    });
    const secret = secretFor(platform);
    const notifier = new ImNotifier({
      platform,
      url: `${receiver.url}${PATHS[platform]}`,
      ...(secret ? { secret } : {}),
    });
    return {
      notifier,
      received: async () => receiver.requests.filter((_, i) => accepted[i]).map((r) => decode(platform, r)),
      breakDestination: async () => {
        broken = true;
      },
      restoreDestination: async () => {
        broken = false;
      },
      close: async () => {
        await notifier.close();
        await receiver.close();
      },
    };
  });
}

describe('ImNotifier', () => {
  let receiver: HttpReceiver;
  const notifiers: ImNotifier[] = [];
  const make = (platform: ImPlatform, extra: { secret?: string; url?: string; timeoutMs?: number } = {}) => {
    const n = new ImNotifier({ platform, url: extra.url ?? `${receiver.url}${PATHS[platform]}`, ...extra });
    notifiers.push(n);
    return n;
  };
  beforeEach(async () => {
    receiver = await startHttpReceiver();
  });
  afterEach(async () => {
    for (const n of notifiers.splice(0)) await n.close();
    await receiver.close();
  });

  it('renders a readable message with the agent, its requeued tasks and the event id', async () => {
    receiver.respond((r) => platformReply('dingtalk', r, false));
    const event = sampleEvent('agent.evicted', {
      agentId: 'a-1',
      name: 'gpu-7',
      requeued: ['t-1', 't-2'],
      dead: [],
    });
    await make('dingtalk', { secret: SECRET }).notify(event);
    const body = JSON.parse(receiver.requests[0]!.body);
    expect(body.msgtype).toBe('markdown');
    expect(body.markdown.title).toBe('[mcpmas] Agent evicted: gpu-7 (a-1), 2 tasks requeued');
    expect(body.markdown.text).toContain('- requeued: t-1, t-2');
    expect(body.markdown.text).toContain(`- event: agent.evicted ${event.id}`);
  });

  it('signs DingTalk in the query string and Feishu in the body; a wrong secret is reported as an error', async () => {
    receiver.respond((r) => platformReply('dingtalk', r, false));
    await make('dingtalk', { secret: SECRET }).notify(sampleEvent());
    const url = new URL(receiver.requests[0]!.url, 'http://x');
    expect(url.searchParams.get('access_token')).toBe('tok-1');
    expect(Math.abs(Number(url.searchParams.get('timestamp')) - Date.now())).toBeLessThan(5000);
    // The raw query has the base64 percent-encoded.
    expect(receiver.requests[0]!.url).not.toMatch(/sign=[^&]*[+/=]/);

    await expect(make('dingtalk', { secret: 'SECwrong' }).notify(sampleEvent())).rejects.toThrow(
      /dingtalk "dingtalk" did not take event \S+: dingtalk error 310000: sign not match/,
    );

    receiver.respond((r) => platformReply('feishu', r, false));
    await make('feishu', { secret: SECRET }).notify(sampleEvent());
    const feishu = JSON.parse(receiver.requests.at(-1)!.body);
    expect(feishu.msg_type).toBe('post');
    expect(feishu.timestamp).toMatch(/^\d{10}$/);
    const error = (await make('feishu', { secret: 'nope' })
      .notify(sampleEvent())
      .catch((e: unknown) => e)) as McpmasError;
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toMatch(/feishu error 19021: sign match fail/);
  });

  it('treats HTTP errors, non-JSON answers and Feishu legacy codes as failures', async () => {
    receiver.respond(() => ({ status: 502, body: 'bad gateway' }));
    await expect(make('wecom').notify(sampleEvent())).rejects.toThrow(/HTTP 502: bad gateway/);
    receiver.respond(() => ({ status: 200, body: '<html>proxy</html>' }));
    await expect(make('wecom').notify(sampleEvent())).rejects.toThrow(/not JSON/);
    receiver.respond(() => ({ status: 200, body: { StatusCode: 19001, StatusMessage: 'param invalid' } }));
    await expect(make('feishu').notify(sampleEvent())).rejects.toThrow(/feishu error 19001: param invalid/);
    receiver.respond(() => ({ status: 200, body: { StatusCode: 0, StatusMessage: 'success' } }));
    await make('feishu').notify(sampleEvent());
  });

  it('times out a platform that never answers', async () => {
    receiver.respond(() => ({ status: 200, delayMs: Number.POSITIVE_INFINITY }));
    await expect(make('slack', { timeoutMs: 200 }).notify(sampleEvent())).rejects.toThrow(
      /no answer within 200 ms/,
    );
  });

  it('refuses bad configuration naming the setting', () => {
    expect(() => new ImNotifier({ platform: 'teams' as never, url: 'https://x.test' })).toThrow(ConfigError);
    expect(() => new ImNotifier({ platform: 'teams' as never, url: 'https://x.test' })).toThrow(
      /platform must be one of/,
    );
    expect(() => new ImNotifier({ platform: 'slack', url: 'hooks.slack.com/x' })).toThrow(
      /im notifier "slack": url must be an absolute http\(s\) URL/,
    );
    expect(
      () => new ImNotifier({ platform: 'dingtalk', url: 'https://oapi.dingtalk.com/robot/send' }),
    ).toThrow(/url must carry the robot's access_token/);
    expect(
      () => new ImNotifier({ platform: 'wecom', url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send' }),
    ).toThrow(/key query parameter/);
    expect(() => new ImNotifier({ platform: 'slack', url: 'https://x.test', secret: 's' })).toThrow(
      /secret applies to dingtalk and feishu only/,
    );
    expect(() => new ImNotifier({ platform: 'feishu', url: 'https://x.test', secret: '' })).toThrow(
      /secret must not be empty/,
    );
  });
});
