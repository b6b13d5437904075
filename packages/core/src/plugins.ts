/**
 * Runs plugins around the dispatcher. Plugins run in the order added; each can be disabled
 * and enabled again at run time without a restart.
 */
import { ConfigError, NotFoundError } from './errors.js';
import type { CallContext, OperationCall, Plugin, PluginHooks } from './interfaces.js';

type ValueHook = Exclude<keyof PluginHooks, 'evict'>;
type HookValue<K extends ValueHook> = Parameters<NonNullable<PluginHooks[K]>>[0];

/** The live list of plugins. */
export class PluginHost {
  private entries: Array<{ plugin: Plugin; enabled: boolean }> = [];
  /** The enabled `around` plugins in order, rebuilt after a change (it runs on every call). */
  private aroundChain: Plugin[] | undefined;

  constructor(plugins: Plugin[] = []) {
    for (const plugin of plugins) this.use(plugin);
  }

  /** Adds a plugin at the end of the chain. */
  use(plugin: Plugin, options: { enabled?: boolean } = {}): this {
    if (!plugin?.name) throw new ConfigError('a plugin needs a name');
    if (this.entries.some((e) => e.plugin.name === plugin.name)) {
      throw new ConfigError(`plugin "${plugin.name}" is already installed`);
    }
    // Copy-on-write so calls in flight keep the chain they started with.
    this.entries = [...this.entries, { plugin, enabled: options.enabled ?? true }];
    this.aroundChain = undefined;
    return this;
  }

  /** Removes a plugin and closes it. */
  async remove(name: string): Promise<void> {
    const entry = this.find(name);
    this.entries = this.entries.filter((e) => e !== entry);
    this.aroundChain = undefined;
    await entry.plugin.close?.();
  }

  enable(name: string): void {
    this.set(name, true);
  }

  disable(name: string): void {
    this.set(name, false);
  }

  list(): Array<{ name: string; enabled: boolean }> {
    return this.entries.map((e) => ({ name: e.plugin.name, enabled: e.enabled }));
  }

  /** The enabled `around` plugins in order (cached until the list changes). */
  private chain(): Plugin[] {
    this.aroundChain ??= this.entries.filter((e) => e.enabled && e.plugin.around).map((e) => e.plugin);
    return this.aroundChain;
  }

  /** True when some enabled plugin has an `around` (lets the dispatcher skip building the call). */
  hasAround(): boolean {
    return this.chain().length > 0;
  }

  /** Runs `final` inside every enabled plugin's `around`, first plugin outermost. */
  around(call: OperationCall, final: () => Promise<unknown>): Promise<unknown> {
    const chain = this.chain();
    if (chain.length === 0) return final();
    const step = (i: number): Promise<unknown> => {
      const plugin = chain[i];
      return plugin ? plugin.around!(call, () => step(i + 1)) : final();
    };
    return step(0);
  }

  /** Passes `value` through each enabled plugin's hook; a hook may replace it or throw. */
  async run<K extends ValueHook>(hook: K, value: HookValue<K>, context: CallContext): Promise<HookValue<K>> {
    let current = value;
    for (const entry of this.entries) {
      const fn = entry.enabled ? (entry.plugin.hooks?.[hook] as PluginHooks[K] | undefined) : undefined;
      if (!fn) continue;
      const next = await (fn as (v: HookValue<K>, c: CallContext) => unknown)(current, context);
      if (next !== undefined) current = next as HookValue<K>;
    }
    return current;
  }

  /** True when some enabled plugin has this hook (lets hot paths skip work). */
  has(hook: keyof PluginHooks): boolean {
    return this.entries.some((e) => e.enabled && e.plugin.hooks?.[hook]);
  }

  /** Tells observers about an eviction; their errors are returned, never thrown. */
  async evicted(event: Parameters<NonNullable<PluginHooks['evict']>>[0]): Promise<unknown[]> {
    const errors: unknown[] = [];
    for (const entry of this.entries) {
      if (!entry.enabled || !entry.plugin.hooks?.evict) continue;
      try {
        await entry.plugin.hooks.evict(event);
      } catch (error) {
        errors.push(error);
      }
    }
    return errors;
  }

  /** Closes every plugin. */
  async close(): Promise<void> {
    for (const entry of this.entries) await entry.plugin.close?.();
  }

  private find(name: string) {
    const entry = this.entries.find((e) => e.plugin.name === name);
    if (!entry) throw new NotFoundError(`no plugin named "${name}"`);
    return entry;
  }

  private set(name: string, enabled: boolean): void {
    const entry = this.find(name);
    this.entries = this.entries.map((e) => (e === entry ? { ...e, enabled } : e));
    this.aroundChain = undefined;
  }
}
