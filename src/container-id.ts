// Container id validation, as Dobby does it: the id names the crun container, its cgroup and its files.
// The one validator: the supervisor, the spec converter, the port specs and the drivers that make a
// file of an id all ask it.

import { DobbyError } from './errors.ts';

const ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** Returns a reason the id is unacceptable, or null when it is fine. */
export function idProblem(id: unknown): string | null {
  if (typeof id !== 'string') return 'the container id must be a string';
  if (id.length === 0) return 'the container id is empty; use 1-128 characters of A-Z a-z 0-9 . _ -';
  if (id.length > 128) return `the container id is ${id.length} characters long; at most 128 are allowed`;
  if (!ID_PATTERN.test(id)) {
    return `the container id '${printable(id)}' has characters other than A-Z a-z 0-9 . _ -`;
  }
  if (!/[A-Za-z]/.test(id)) return `the container id '${id}' needs at least one letter`;
  if (id.includes('..')) return `the container id '${id}' must not contain '..'`;
  return null;
}

/** Throws INVALID_ID naming the problem; `context` is added to the error (the driver verb, say). */
export function assertValidId(id: unknown, context: { readonly verb?: string } = {}): asserts id is string {
  const problem = idProblem(id);
  if (problem !== null) throw new DobbyError('INVALID_ID', problem, { ...(typeof id === 'string' ? { containerId: id } : {}), ...context });
}

function printable(id: string): string {
  const shown = id.length > 40 ? `${id.slice(0, 40)}…` : id;
  return shown.replace(/[^\x20-\x7e]/g, '?');
}
