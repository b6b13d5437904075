/** Renders hub events as a readable subject, plain text and HTML. */
import { eventFields as fields, type HubEvent, eventHeadline as headline } from '@mcpmas/core';

export { fields, headline };

const TITLES: Record<string, [singular: string, plural: string]> = {
  'agent.evicted': ['agent evicted', 'agents evicted'],
  'agent.registered': ['agent registered', 'agents registered'],
  'agent.unregistered': ['agent unregistered', 'agents unregistered'],
  'task.dead': ['task dead-lettered', 'tasks dead-lettered'],
  'task.timed_out': ['task timed out', 'tasks timed out'],
  'leader.changed': ['leader change', 'leader changes'],
};

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
