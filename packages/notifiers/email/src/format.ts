/** Renders hub events as a readable subject, plain text and HTML. */
import type { HubEvent } from '@mcpmas/core';

const TITLES: Record<string, [singular: string, plural: string]> = {
  'agent.evicted': ['agent evicted', 'agents evicted'],
  'agent.registered': ['agent registered', 'agents registered'],
  'agent.unregistered': ['agent unregistered', 'agents unregistered'],
  'task.dead': ['task dead-lettered', 'tasks dead-lettered'],
  'task.timed_out': ['task timed out', 'tasks timed out'],
  'leader.changed': ['leader change', 'leader changes'],
};

const str = (value: unknown): string => (value === undefined || value === null ? '' : String(value));
const list = (value: unknown): string[] => (Array.isArray(value) ? value.map(str) : []);

/** One line saying what happened, e.g. `Agent evicted: worker 1 (agent-1), 2 tasks requeued`. */
export function headline(event: HubEvent): string {
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
export function fields(event: HubEvent): Array<[string, string]> {
  return Object.entries(event.data).map(([key, value]) => {
    if (Array.isArray(value)) return [key, value.length ? value.map(str).join(', ') : '(none)'];
    if (value !== null && typeof value === 'object') return [key, JSON.stringify(value)];
    if (key.endsWith('At') || key === 'lastHeartbeat') {
      if (typeof value === 'number') return [key, `${new Date(value).toISOString()}`];
    }
    return [key, str(value)];
  });
}

/** The subject of a mail carrying `events`. */
export function subject(events: HubEvent[], prefix: string): string {
  const lead = prefix ? `${prefix} ` : '';
  if (events.length === 1) return `${lead}${headline(events[0]!)}`;
  return `${lead}${events.length} events: ${counts(events)}`;
}

/** `998 agents evicted, 2 tasks dead-lettered` */
export function counts(events: HubEvent[]): string {
  const byType = new Map<string, number>();
  for (const e of events) byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
  return [...byType]
    .map(([type, n]) => {
      const [one, many] = TITLES[type] ?? [type, type];
      return `${n} ${n === 1 ? one : many}`;
    })
    .join(', ');
}

/** The plain-text body. */
export function textBody(events: HubEvent[], hub: string): string {
  const lines = [
    events.length === 1
      ? `${hub} reports one event.`
      : `${hub} reports ${events.length} events (${counts(events)}).`,
    '',
  ];
  events.forEach((event, i) => {
    lines.push(`${events.length > 1 ? `${i + 1}. ` : ''}${headline(event)}`);
    lines.push(`   at: ${new Date(event.at).toISOString()}`);
    for (const [key, value] of fields(event)) lines.push(`   ${key}: ${value}`);
    lines.push(`   event: ${event.type} ${event.id}`, '');
  });
  return lines.join('\n');
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The HTML body: a heading and one small table per event. */
export function htmlBody(events: HubEvent[], hub: string): string {
  const intro =
    events.length === 1
      ? `${escapeHtml(hub)} reports one event.`
      : `${escapeHtml(hub)} reports ${events.length} events (${escapeHtml(counts(events))}).`;
  const sections = events.map((event) => {
    const rows = [
      ['at', new Date(event.at).toISOString()],
      ...fields(event),
      ['event', `${event.type} ${event.id}`],
    ]
      .map(
        ([k, v]) =>
          `<tr><th align="left" style="padding:2px 12px 2px 0;color:#555">${escapeHtml(k!)}</th><td>${escapeHtml(v!)}</td></tr>`,
      )
      .join('');
    return `<h3 style="margin:16px 0 4px">${escapeHtml(headline(event))}</h3><table style="border-collapse:collapse;font-size:14px">${rows}</table>`;
  });
  return `<!doctype html><html><body style="font-family:sans-serif"><p>${intro}</p>${sections.join('')}</body></html>`;
}
