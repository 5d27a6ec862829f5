// Reading a plugin's `data` object the way every built-in plugin checks it: a wrong type is an error
// naming the field (`<plugin>.data.<field>`) and what would be right; an unknown field is a warning.

import { DobbyError } from '../errors.ts';

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : JSON.stringify(value);
}

export interface PluginData {
  /** Field values by name; `{}` when the plugin was given no data and may have none. */
  readonly fields: Readonly<Record<string, unknown>>;
  /** One sentence per field that is not one of `known` (the plugin ignores it). */
  readonly warnings: readonly string[];
  /** Throws the INVALID_ARGUMENT error for `field`. */
  bad(field: string, message: string): never;
  /** A string field, or `fallback` when absent/null. */
  string<T extends string | undefined>(field: string, fallback: T, hint: string): string | T;
  /** A whole number in the given range (Dobby's int32 by default), or `fallback` when absent/null. */
  integer(field: string, fallback: number, range?: readonly [number, number]): number;
}

export interface PluginDataOptions {
  /** Data may be absent (`null`): Dobby's localtime and gamepad. Else null data is an error. */
  readonly optional?: boolean;
  /** Extra advice for an unknown field, by name (e.g. a spelling Dobby's README uses but its parser ignores). */
  readonly unknownHints?: Readonly<Record<string, string>>;
}

const INT32: readonly [number, number] = [-2147483648, 2147483647];

/** Checks that `input` is a data object and returns typed readers over it. */
export function readPluginData(plugin: string, input: unknown, known: readonly string[], options: PluginDataOptions = {}): PluginData {
  const prefix = `${plugin}.data`;
  const bad = (field: string, message: string): never => {
    throw new DobbyError('INVALID_ARGUMENT', `${field === '' ? prefix : `${prefix}.${field}`} ${message}`);
  };
  let fields: Record<string, unknown> = {};
  if (input === null || input === undefined) {
    if (options.optional !== true) bad('', `is missing; ${plugin} needs a data object (Dobby refuses a config without one)`);
  } else if (typeof input !== 'object' || Array.isArray(input)) {
    bad('', `must be an object, not ${describe(input)}`);
  } else {
    fields = input as Record<string, unknown>;
  }
  const warnings = Object.keys(fields)
    .filter((k) => !known.includes(k))
    .map((k) => `${prefix}.${k} is not a ${plugin} option and is ignored${options.unknownHints?.[k] === undefined ? '' : ` (${options.unknownHints[k]})`}`);
  const value = (field: string): unknown => (Object.hasOwn(fields, field) ? fields[field] : undefined);
  return {
    fields,
    warnings,
    bad,
    string(field, fallback, hint) {
      const v = value(field);
      if (v === undefined || v === null) return fallback;
      if (typeof v !== 'string') return bad(field, `is ${describe(v)}; it must be a string: ${hint}`);
      return v;
    },
    integer(field, fallback, range = INT32) {
      const v = value(field);
      if (v === undefined || v === null) return fallback;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) {
        return bad(field, `is ${describe(v)}; it must be a whole number from ${range[0]} to ${range[1]}`);
      }
      return v;
    },
  };
}

/** Runs `parse` and puts the container id in front of a data error's message. */
export function forContainer<T>(id: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof DobbyError) throw new DobbyError(err.code, `container '${id}': ${err.message}`, { containerId: id });
    throw err;
  }
}
