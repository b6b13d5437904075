/**
 * Checks on free-form JSON (task payloads and results, metadata, error details, progress data)
 * before anything stores, copies or serialises it.
 */

/**
 * Deepest nesting of arrays and objects allowed in one free-form JSON value, so that a task
 * accepted on one protocol can be read on every other. gRPC is the tightest: JSON travels as
 * `google.protobuf.Value`, three nested messages per object level, and protobuf decoders
 * (the generated ones here, and C++'s and Java's) stop at 100 nested messages, which in the
 * deepest envelope (a lease reply on the agent channel) leaves 31 object levels. (Without a
 * limit, a few thousand levels exhaust the stack of `JSON.stringify` and of every recursive
 * copy.) Real payloads nest a handful of levels.
 */
export const MAX_JSON_DEPTH = 30;

/**
 * Why a key named `__proto__` is refused (as fastify refuses it by default): JavaScript gives
 * it a special meaning, so copying such an object with plain assignments (zod, most clone
 * helpers, an agent's own code) silently drops the key and sets the copy's prototype instead.
 */
export const PROTO_KEY =
  'a key named "__proto__" is not accepted: JavaScript code copying the object would set its prototype instead';

/** What is wrong with a value as JSON, and where: `path` from the value's root. */
export interface JsonProblem {
  path: Array<string | number>;
  message: string;
}

/**
 * The first reason `value` is not plain JSON nested at most `maxDepth` levels, or `undefined`
 * when it is: `null`, booleans, finite numbers, strings, arrays and plain objects, with
 * `undefined` allowed where JSON drops it (an absent field). Refused: `NaN` and infinities
 * (JSON has no such numbers and `JSON.stringify` silently makes them `null`), bigints,
 * functions, symbols, class instances such as `Date` or `Map`, a value that contains itself,
 * a key named `__proto__` ({@link PROTO_KEY}), and nesting deeper than `maxDepth`. Recursion stops at `maxDepth`, so a hostile value
 * cannot exhaust the stack here.
 */
export function jsonProblem(value: unknown, maxDepth: number = MAX_JSON_DEPTH): JsonProblem | undefined {
  // Scalars, the usual payload, need no bookkeeping.
  return value !== null && typeof value === 'object' ? problemIn(value, [], maxDepth) : scalarProblem(value);
}

function scalarProblem(item: unknown): JsonProblem | undefined {
  switch (typeof item) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return undefined;
    case 'number':
      return Number.isFinite(item) ? undefined : { path: [], message: `${item} is not a JSON number` };
    default:
      return item === null ? undefined : { path: [], message: `a ${typeof item} is not JSON` };
  }
}

/** The problem within `item` (an object), `open` holding the containers it is inside. */
function problemIn(item: object, open: object[], maxDepth: number): JsonProblem | undefined {
  if (open.length >= maxDepth) {
    return { path: [], message: `nested deeper than ${maxDepth} levels of arrays and objects` };
  }
  if (open.includes(item)) return { path: [], message: 'the value contains itself' };
  let found: JsonProblem | undefined;
  open.push(item);
  if (Array.isArray(item)) {
    for (let i = 0; i < item.length && !found; i++) {
      const child: unknown = item[i];
      found =
        child !== null && typeof child === 'object' ? problemIn(child, open, maxDepth) : scalarProblem(child);
      found?.path.unshift(i);
    }
  } else {
    // A plain object of any realm (a vm context, jest's sandbox): its prototype is an
    // Object.prototype, whose own prototype is null.
    const proto = Object.getPrototypeOf(item) as object | null;
    if (proto !== null && (Object.getPrototypeOf(proto) !== null || Symbol.toStringTag in item)) {
      const name = (item as { constructor?: { name?: unknown } }).constructor?.name;
      found = {
        path: [],
        message: `${typeof name === 'string' && name ? `a ${name}` : 'an object with a prototype'} is not JSON`,
      };
    } else {
      for (const key in item) {
        if (!Object.hasOwn(item, key)) continue;
        if (key === '__proto__') {
          found = { path: [key], message: PROTO_KEY };
          break;
        }
        const child: unknown = (item as Record<string, unknown>)[key];
        found =
          child !== null && typeof child === 'object'
            ? problemIn(child, open, maxDepth)
            : scalarProblem(child);
        if (found) {
          found.path.unshift(key);
          break;
        }
      }
    }
  }
  open.pop();
  return found;
}
