/**
 * Human-readable renderings of hub events, shared by every notifier that writes for people
 * (e-mail, IM, …).
 */
import type { HubEvent } from './interfaces.js';

const str = (value: unknown): string => (value === undefined || value === null ? '' : String(value));
const list = (value: unknown): string[] => (Array.isArray(value) ? value.map(str) : []);

/** One line saying what happened, e.g. `Agent evicted: worker 1 (agent-1), 2 tasks requeued`. */
export function eventHeadline(event: HubEvent): string {
  const d = event.data;
  const who = d.name && d.name !== d.agentId ? `${str(d.name)} (${str(d.agentId)})` : str(d.agentId);
  switch (event.type) {
    case 'agent.evicted': {
      const requeued = list(d.requeued).length;
      const dead = list(d.dead).length;
      return `Agent evicted: ${who}, ${requeued} task${requeued === 1 ? '' : 's'} requeued${dead ? `, ${dead} dead-lettered` : ''}`;
    }
    case 'agent.registered':
      return `Agent registered: ${who}`;
    case 'agent.unregistered':
      return `Agent unregistered: ${who}`;
    case 'task.dead':
      return `Task dead-lettered: ${str(d.taskId)}${d.capability ? ` (${str(d.capability)})` : ''}`;
    case 'task.timed_out':
      return `Task timed out: ${str(d.taskId)}${d.capability ? ` (${str(d.capability)})` : ''}`;
    case 'leader.changed':
      return `Leader changed: hub ${str(d.hubId)}${d.epoch !== undefined ? ` (epoch ${str(d.epoch)})` : ''}`;
    default:
      return `Event ${event.type}`;
  }
}

/** Every data field as `[key, readable value]`, arrays joined, objects as JSON. */
export function eventFields(event: HubEvent): Array<[string, string]> {
  return Object.entries(event.data).map(([key, value]) => {
    if (Array.isArray(value)) return [key, value.length ? value.map(str).join(', ') : '(none)'];
    if (value !== null && typeof value === 'object') return [key, JSON.stringify(value)];
    if (key.endsWith('At') || key === 'lastHeartbeat') {
      if (typeof value === 'number') return [key, `${new Date(value).toISOString()}`];
    }
    return [key, str(value)];
  });
}
