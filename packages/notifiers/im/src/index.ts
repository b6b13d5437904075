/**
 * `@mcpmas/notifier-im`: hub events as Slack, DingTalk, Feishu/Lark and WeCom bot messages.
 *
 * @packageDocumentation
 */
export { fields, headline } from './format.js';
export { IM_DEFAULTS, ImNotifier, type ImNotifierOptions } from './im.js';
export {
  buildRequest,
  dingtalkSign,
  feishuSign,
  IM_PLATFORMS,
  type ImPlatform,
  messageLines,
  type PlatformRequest,
  platformError,
} from './platforms.js';
