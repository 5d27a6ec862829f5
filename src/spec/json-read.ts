// Typed reads of untrusted JSON values: wrong types become collected errors naming the path, never exceptions.

import type { Issues } from './result.ts';

export type JsonObject = { readonly [key: string]: unknown };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own properties only: a spec key `constructor` or `__proto__` must not reach Object.prototype. */
export function own(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

export function has(obj: JsonObject, key: string): boolean {
  return Object.hasOwn(obj, key);
}

export function childPath(path: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(printable(key, 60))}]`;
}

export function indexPath(path: string, i: number): string {
  return `${path}[${i}]`;
}

/** A string safe to show in a message: control characters replaced, long ones cut. */
export function printable(text: string, max = 80): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(/[\u0000-\u001f\u007f]/g, '?');
}

export function quote(text: string, max = 80): string {
  return `'${printable(text, max)}'`;
}

/** What a value is, for "expected X, got Y" messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string': return `a string (${quote(value, 40)})`;
    case 'number': return `a number (${value})`;
    case 'boolean': return `${value}`;
    case 'object': return 'an object';
    default: return typeof value;
  }
}

export function wrongType(issues: Issues, path: string, expected: string, value: unknown): void {
  issues.error('WRONG_TYPE', path, `expected ${expected}, got ${describeValue(value)}`);
}

export function readString(issues: Issues, path: string, value: unknown, expected = 'a string'): string | undefined {
  if (typeof value === 'string') {
    if (value.includes('\0')) {
      issues.error('INVALID_VALUE', path, 'must not contain a NUL character');
      return undefined;
    }
    return value;
  }
  wrongType(issues, path, expected, value);
  return undefined;
}

export interface IntegerRange {
  readonly min: number;
  readonly max: number;
  /** Says what a right value is, e.g. `containers run as a non-root user (1..65534)`. */
  readonly hint?: string;
}

export function readInteger(issues: Issues, path: string, value: unknown, range: IntegerRange): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    wrongType(issues, path, `an integer (${range.min}..${range.max})`, value);
    return undefined;
  }
  if (value < range.min || value > range.max) {
    issues.error('OUT_OF_RANGE', path, `${value} is out of range; ${range.hint ?? `use ${range.min}..${range.max}`}`);
    return undefined;
  }
  return value;
}

/** `true`/`false`; null reads as `nullAs` (Dobby treats null like an absent optional bool). */
export function readBoolean(issues: Issues, path: string, value: unknown, nullAs?: boolean): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === null && nullAs !== undefined) return nullAs;
  wrongType(issues, path, nullAs === undefined ? 'true or false' : 'true, false or null', value);
  return undefined;
}

/** An array of strings; every bad entry is reported with its index. */
export function readStringArray(issues: Issues, path: string, value: unknown): string[] | undefined {
  if (!Array.isArray(value)) {
    wrongType(issues, path, 'an array of strings', value);
    return undefined;
  }
  const out: string[] = [];
  let bad = false;
  value.forEach((entry: unknown, i) => {
    const s = readString(issues, indexPath(path, i), entry);
    if (s === undefined) bad = true;
    else out.push(s);
  });
  return bad ? undefined : out;
}

export function readObject(issues: Issues, path: string, value: unknown, example: string): JsonObject | undefined {
  if (isObject(value)) return value;
  wrongType(issues, path, `an object like ${example}`, value);
  return undefined;
}

/** Dobby ignores keys it does not know; we ignore them too but say so, with a hint for near misses. */
export function warnUnknownKeys(issues: Issues, path: string, obj: JsonObject, known: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
    const where = childPath(path, key);
    issues.warn(near === undefined
      ? `${where}: unknown field, ignored`
      : `${where}: unknown field, ignored (did you mean '${near}'? field names are case-sensitive)`);
  }
}

/** Deepest nesting of arrays/objects, measured without recursion so hostile input cannot overflow the stack. */
export function nestingDepth(root: unknown, limit: number): number {
  let deepest = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value: root, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    const here = depth + 1;
    if (here > deepest) deepest = here;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: here });
    }
  }
  return deepest;
}
