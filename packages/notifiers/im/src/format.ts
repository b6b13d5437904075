/** Readable headlines and field lists for hub events (shared by every IM platform); kept in core. */
export { eventFields as fields, eventHeadline as headline } from '@mcpmas/core';
