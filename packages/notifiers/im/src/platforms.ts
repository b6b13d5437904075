/**
 * The four incoming-webhook formats: how each platform wants a message, how it is signed,
 * and how it reports an error (all of them but Slack answer HTTP 200 with an error code).
 */
import { createHmac } from 'node:crypto';
import type { HubEvent } from '@mcpmas/core';
import { fields, headline } from './format.js';

/** Supported IM platforms. */
export type ImPlatform = 'slack' | 'dingtalk' | 'feishu' | 'wecom';

/** Every supported platform. */
export const IM_PLATFORMS: readonly ImPlatform[] = ['slack', 'dingtalk', 'feishu', 'wecom'];

/**
 * DingTalk robot signature: HMAC-SHA256 keyed with `secret` over `"<timestamp>\n<secret>"`,
 * base64. Sent URL-encoded as the `sign` query parameter beside `timestamp` (epoch ms).
 */
export function dingtalkSign(secret: string, timestampMs: number): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64');
}

/**
 * Feishu/Lark bot signature: HMAC-SHA256 keyed with `"<timestamp>\n<secret>"` over an empty
 * message, base64. Sent in the JSON body as `sign` beside `timestamp` (epoch seconds, string).
 */
export function feishuSign(secret: string, timestampSeconds: number): string {
  return createHmac('sha256', `${timestampSeconds}\n${secret}`).update('').digest('base64');
}

/** The text lines of a message: headline, fields, then the event footer. */
export function messageLines(event: HubEvent, prefix: string): { title: string; lines: string[] } {
  const title = `${prefix ? `${prefix} ` : ''}${headline(event)}`;
  const lines = fields(event).map(([k, v]) => `${k}: ${v}`);
  lines.push(`at: ${new Date(event.at).toISOString()}`, `event: ${event.type} ${event.id}`);
  return { title, lines };
}

const slackEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** What to send: the final URL and the JSON body. */
export interface PlatformRequest {
  url: URL;
  body: Record<string, unknown>;
}

/** Builds the platform's request for one event; `now` is epoch ms. */
export function buildRequest(
  platform: ImPlatform,
  base: URL,
  event: HubEvent,
  options: { prefix: string; secret?: string | undefined; now: number },
): PlatformRequest {
  const { title, lines } = messageLines(event, options.prefix);
  const url = new URL(base);
  switch (platform) {
    case 'slack':
      return {
        url,
        body: { text: `*${slackEscape(title)}*\n${lines.map((l) => `• ${slackEscape(l)}`).join('\n')}` },
      };
    case 'dingtalk': {
      if (options.secret) {
        url.searchParams.set('timestamp', String(options.now));
        // URLSearchParams percent-encodes the base64 (+, /, =) as the platform requires.
        url.searchParams.set('sign', dingtalkSign(options.secret, options.now));
      }
      return {
        url,
        body: {
          msgtype: 'markdown',
          markdown: { title, text: `### ${title}\n\n${lines.map((l) => `- ${l}`).join('\n')}` },
        },
      };
    }
    case 'feishu': {
      const body: Record<string, unknown> = {
        msg_type: 'post',
        content: { post: { zh_cn: { title, content: lines.map((text) => [{ tag: 'text', text }]) } } },
      };
      if (options.secret) {
        const seconds = Math.floor(options.now / 1000);
        body.timestamp = String(seconds);
        body.sign = feishuSign(options.secret, seconds);
      }
      return { url, body };
    }
    case 'wecom':
      return {
        url,
        body: {
          msgtype: 'markdown',
          markdown: { content: `**${title}**\n${lines.map((l) => `> ${l}`).join('\n')}` },
        },
      };
  }
}

/**
 * The platform's verdict on a 2xx answer: undefined when accepted, else the error it
 * reported. DingTalk and WeCom answer `{ errcode, errmsg }`, Feishu `{ code, msg }` (older
 * bots `{ StatusCode, StatusMessage }`), Slack the plain text `ok`.
 */
export function platformError(platform: ImPlatform, text: string): string | undefined {
  if (platform === 'slack') {
    const body = text.trim();
    return body === '' || body === 'ok' ? undefined : `slack answered "${body.slice(0, 200)}"`;
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return `${platform} answered a body that is not JSON: ${text.slice(0, 200)}`;
  }
  if (platform === 'feishu') {
    const code = json.code ?? json.StatusCode;
    if (code === undefined || code === 0) return undefined;
    return `feishu error ${String(code)}: ${String(json.msg ?? json.StatusMessage ?? '')}`;
  }
  const code = json.errcode;
  if (code === undefined || code === 0) return undefined;
  return `${platform} error ${String(code)}: ${String(json.errmsg ?? '')}`;
}
