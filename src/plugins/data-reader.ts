// Reads a plugin's nested `data` (objects in arrays, as storage's loopback[]) field by field with
// Dobby's names and defaults: a value of the wrong type or out of range is an error naming the
// field (`storage.data.loopback[0].imgsize`), a key the plugin does not know is a warning, an absent
// key takes the default. (plugin-data.ts reads flat data the same way.)

import { DobbyError } from '../errors.ts';
import { normaliseContainerPath } from '../spec/container-path.ts';
import { forContainer } from './plugin-data.ts';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** Dobby's "no limit" for uint64 byte limits. */
export const UINT64_MAX = 2n ** 64n - 1n;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shown(v: unknown): string {
  if (v === undefined) return 'missing';
  if (Array.isArray(v)) return 'an array';
  if (isRecord(v)) return 'an object';
  const text = JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}

/** One object of a plugin's data (the data itself, or an entry of one of its arrays). */
export class DataObject {
  readonly path: string;
  readonly #obj: Record<string, unknown>;
  readonly #warnings: string[];

  constructor(path: string, obj: Record<string, unknown>, known: readonly string[], warnings: string[]) {
    this.path = path;
    this.#obj = obj;
    this.#warnings = warnings;
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) warnings.push(`${path}.${key} is not an option of this plugin and is ignored (it knows ${known.join(', ')})`);
    }
  }

  /** A DobbyError naming `<path>.<key>`. */
  error(key: string, message: string): DobbyError {
    return new DobbyError('INVALID_ARGUMENT', `${this.path}.${key} ${message}`);
  }

  warn(message: string): void {
    this.#warnings.push(message);
  }

  #get(key: string): unknown {
    return Object.hasOwn(this.#obj, key) ? this.#obj[key] : undefined;
  }

  has(key: string): boolean {
    const v = this.#get(key);
    return v !== undefined && v !== null;
  }

  /** A string; absent (or null) is `fallback`, or an error naming what to give when there is none. */
  string(key: string, fallback: string | null, hint: string): string {
    const v = this.#get(key);
    if (v === undefined || v === null) {
      if (fallback === null) throw this.error(key, `is missing; ${hint}`);
      return fallback;
    }
    if (typeof v !== 'string') throw this.error(key, `is ${shown(v)}; it must be a string (${hint})`);
    return v;
  }

  /** An absolute host path, normalised; `..` is allowed on the host (it is the host's own path). */
  hostPath(key: string, hint: string): string {
    const v = this.string(key, null, hint);
    if (!v.startsWith('/')) throw this.error(key, `is ${shown(v)}; it must be an absolute host path (${hint})`);
    return v;
  }

  /** An absolute path inside the container without `..`, and not `/` itself. */
  containerPath(key: string, hint: string): string {
    const v = this.string(key, null, hint);
    const normal = normaliseContainerPath(v);
    if (!normal.ok) throw this.error(key, normal.reason);
    if (normal.path === '/') throw this.error(key, 'is /; give a directory inside the container, not its root');
    return normal.path;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.#get(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw this.error(key, `is ${shown(v)}; it must be true or false`);
    return v;
  }

  /** A whole number in Dobby's int32 range, or narrower. */
  int32(key: string, fallback: number, range: { readonly min?: number; readonly max?: number; readonly what: string }): number {
    const v = this.#get(key);
    if (v === undefined || v === null) return fallback;
    const min = range.min ?? INT32_MIN;
    const max = range.max ?? INT32_MAX;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw this.error(key, `is ${shown(v)}; it must be a whole number from ${min} to ${max} (${range.what})`);
    }
    return v;
  }

  /**
   * A uint64 (Dobby's byte limits), as a bigint; absent is `fallback`. JSON numbers past 2^53 are not
   * exact, so those are refused, except 18446744073709551615 (which JSON gives as 2^64): UINT64_MAX.
   */
  uint64(key: string, fallback: bigint, what: string): bigint {
    const v = this.#get(key);
    if (v === undefined || v === null) return fallback;
    if (v === 2 ** 64) return UINT64_MAX;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw this.error(key, `is ${shown(v)}; it must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, or ${UINT64_MAX} for no limit (${what})`);
    }
    return BigInt(v);
  }

  strings(key: string): string[] {
    const v = this.#get(key);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw this.error(key, `is ${shown(v)}; it must be an array of strings`);
    return v.map((s, i) => {
      if (typeof s !== 'string') throw this.error(`${key}[${i}]`, `is ${shown(s)}; it must be a string`);
      return s;
    });
  }

  /** An array's items as given (the caller checks each, naming `<key>[i]`); absent is empty. */
  items(key: string, what: string): unknown[] {
    const v = this.#get(key);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw this.error(key, `is ${shown(v)}; it must be an array of ${what}`);
    return v as unknown[];
  }

  /** A nested object that must be there, read with its own known keys. */
  child(key: string, known: readonly string[], hint: string): DataObject {
    const v = this.#get(key);
    if (v === undefined || v === null) throw this.error(key, `is missing; ${hint}`);
    if (!isRecord(v)) throw this.error(key, `is ${shown(v)}; it must be an object (${hint})`);
    return new DataObject(`${this.path}.${key}`, v, known, this.#warnings);
  }

  /** An array of objects, each read with its own known keys. */
  objects(key: string, known: readonly string[], example: string): DataObject[] {
    const v = this.#get(key);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw this.error(key, `is ${shown(v)}; it must be an array of objects like ${example}`);
    return v.map((entry, i) => {
      if (!isRecord(entry)) throw this.error(`${key}[${i}]`, `is ${shown(entry)}; it must be an object like ${example}`);
      return new DataObject(`${this.path}.${key}[${i}]`, entry, known, this.#warnings);
    });
  }
}

/**
 * The top of a plugin's data. Dobby requires a `data` object for every plugin but localtime and
 * gamepad: `required` names what a missing one must hold.
 */
export function readDataObject(plugin: string, data: unknown, known: readonly string[], required: string): { readonly root: DataObject; readonly warnings: string[] } {
  const path = `${plugin}.data`;
  if (data === undefined || data === null) throw new DobbyError('INVALID_ARGUMENT', `${path} is missing; ${required}`);
  if (!isRecord(data)) throw new DobbyError('INVALID_ARGUMENT', `${path} is ${shown(data)}; it must be an object (${required})`);
  const warnings: string[] = [];
  return { root: new DataObject(path, data, known, warnings), warnings };
}

/** A parsed data type with its warnings (which checkData logged once, before the first hook). */
export interface Parsed<T> {
  readonly data: T;
  readonly warnings: readonly string[];
}

/** The hook's data through `parse`, an error naming the container when it is bad. */
export function dataOf<T>(ctx: { readonly id: string; readonly data: unknown }, parse: (data: unknown) => Parsed<T>): T {
  return forContainer(ctx.id, () => parse(ctx.data).data);
}

/** Prefixes an error of a plugin's own with the container, as forContainer does for data errors. */
export function containerError(id: string, err: unknown): unknown {
  if (err instanceof DobbyError && err.containerId === undefined) {
    return new DobbyError(err.code, `container '${id}': ${err.message}`, { containerId: id, cause: err });
  }
  return err;
}
