/**
 * {@link FailoverTransport}: one `AgentCommInterface` over several hub endpoints in order of
 * preference — another protocol, another hub, or both. Calls go to the most preferred
 * endpoint that is up; when it fails with a connection-level error the transport moves to the
 * next one, and a background probe moves it back once a more preferred endpoint answers again.
 */
import {
  type AgentCommInterface,
  ErrorCode,
  fromUnknown,
  type InboundMessage,
  type McpmasError,
  type OperationName,
  type TransportFeatures,
  UnavailableError,
  UnsupportedError,
} from '@mcpmas/core';

/** Options of {@link FailoverTransport}. */
export interface FailoverOptions {
  /** How often endpoints marked down are probed. @default 2000 */
  probeIntervalMs?: number;
  /** Called when the active endpoint changes. */
  onSwitch?: (from: AgentCommInterface, to: AgentCommInterface, reason: string) => void;
}

/** The agent id failover probes ask about; never registered by anyone. */
export const PROBE_AGENT_ID = 'mcpmas-failover-probe';

/**
 * Connection-level failures: the endpoint, not the request, is the problem. A retryable
 * timeout counts too (a dead WebSocket or gRPC peer often shows up as one); a caller's own
 * abort is a non-retryable timeout and does not.
 */
function endpointDown(error: McpmasError): boolean {
  return error.code === ErrorCode.Unavailable || (error.code === ErrorCode.Timeout && error.retryable);
}

/**
 * Fails over between endpoints. The failing call itself is not repeated on the next endpoint
 * (it may have taken effect): it is rethrown, so the caller's own retry — the agent runtime
 * retries every operation it needs — goes to the new endpoint. Registration, heartbeats,
 * progress and results are idempotent, so nothing is lost or duplicated.
 *
 * Push is not offered (`features.push = false`): the runtime polls, which every protocol
 * supports, so switching between push and poll protocols needs no special case.
 */
export class FailoverTransport implements AgentCommInterface {
  readonly features: TransportFeatures = { push: false };
  private readonly down = new Set<AgentCommInterface>();
  /** Endpoints whose `start()` failed; the probe starts them once their hub answers. */
  private readonly unstarted = new Set<AgentCommInterface>();
  private active: AgentCommInterface;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;

  constructor(
    private readonly endpoints: AgentCommInterface[],
    private readonly options: FailoverOptions = {},
  ) {
    if (endpoints.length === 0) throw new TypeError('FailoverTransport needs at least one endpoint');
    this.active = endpoints[0]!;
  }

  /** The protocol of the endpoint in use. */
  get protocol(): string {
    return this.active.protocol;
  }

  /** The endpoint in use. */
  get current(): AgentCommInterface {
    return this.active;
  }

  /**
   * Starts every endpoint. One that cannot start (its hub is down) is marked down and probed
   * later; start fails only when no endpoint starts at all.
   */
  async start(): Promise<void> {
    const results = await Promise.allSettled(this.endpoints.map((e) => e.start()));
    const failed = results.flatMap((r, i) =>
      r.status === 'rejected' ? [[this.endpoints[i]!, r.reason] as const] : [],
    );
    if (failed.length === this.endpoints.length) throw fromUnknown(failed[0]![1]);
    for (const [endpoint, reason] of failed) {
      this.unstarted.add(endpoint);
      this.markDown(endpoint, fromUnknown(reason).message);
    }
    this.probeTimer = setInterval(() => void this.probe(), this.options.probeIntervalMs ?? 2000);
    this.probeTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.probeTimer) clearInterval(this.probeTimer);
    await Promise.allSettled(this.endpoints.map((e) => e.stop()));
  }

  async sendMessage(
    target: OperationName,
    content: unknown,
    options?: { signal?: AbortSignal },
  ): Promise<unknown> {
    const endpoint = this.active;
    try {
      return await endpoint.sendMessage(target, content, options);
    } catch (error) {
      const err = fromUnknown(error);
      if (endpointDown(err)) this.markDown(endpoint, err.message);
      throw err;
    }
  }

  receiveMessage(_handler: (message: InboundMessage) => void | Promise<void>): void {
    throw new UnsupportedError(
      'FailoverTransport has no push; the runtime polls through the active endpoint',
    );
  }

  private markDown(endpoint: AgentCommInterface, reason: string): void {
    this.down.add(endpoint);
    if (endpoint !== this.active) return;
    const next = this.endpoints.find((e) => !this.down.has(e));
    if (!next) {
      // Everything is down: keep the most preferred one and let the probe find a survivor.
      return;
    }
    this.switchTo(next, reason);
  }

  private switchTo(next: AgentCommInterface, reason: string): void {
    const from = this.active;
    if (next === from) return;
    this.active = next;
    this.options.onSwitch?.(from, next, reason);
  }

  /** Probes endpoints marked down; moves back to the most preferred one that answers. */
  private async probe(): Promise<void> {
    if (this.probing || this.down.size === 0) return;
    this.probing = true;
    try {
      for (const endpoint of this.endpoints) {
        if (!this.down.has(endpoint)) continue;
        if (await this.reachable(endpoint)) this.down.delete(endpoint);
      }
      const best = this.endpoints.find((e) => !this.down.has(e));
      if (best && this.endpoints.indexOf(best) < this.endpoints.indexOf(this.active)) {
        this.switchTo(best, 'preferred endpoint is back');
      } else if (best && this.down.has(this.active)) {
        this.switchTo(best, 'active endpoint is down');
      }
    } finally {
      this.probing = false;
    }
  }

  /**
   * An endpoint is reachable when its hub answers at all: a heartbeat for an agent id that is
   * never registered is refused (not found, or an auth error) without touching any state.
   */
  private async reachable(endpoint: AgentCommInterface): Promise<boolean> {
    try {
      if (this.unstarted.has(endpoint)) {
        await endpoint.start();
        this.unstarted.delete(endpoint);
      }
      await endpoint.sendMessage(
        'agent.heartbeat',
        { agentId: PROBE_AGENT_ID },
        { signal: AbortSignal.timeout(2000) },
      );
      return true;
    } catch (error) {
      const err = fromUnknown(error);
      // The probe's own deadline passing means the endpoint did not answer in time.
      return !endpointDown(err) && err.code !== ErrorCode.Timeout && !(error instanceof UnavailableError);
    }
  }
}
