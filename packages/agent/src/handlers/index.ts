/** Built-in task handlers: `echo` and an OpenAI-compatible chat-completions client. */
export { createEchoHandler, type EchoHandlerOptions, type EchoResult, echoHandler } from './echo.js';
export {
  type ChatCompletionResult,
  type ChatMessage,
  type ChatPayload,
  type ChatUsage,
  createOpenAIChatHandler,
  DEFAULT_OPENAI_TIMEOUT_MS,
  type OpenAIChatHandlerOptions,
} from './openai.js';
