// The one table of which commands each container state accepts; guards and refusals both read it.

import type { ContainerPhase } from '../manager-types.ts';

export type Operation = 'start' | 'stop' | 'pause' | 'resume' | 'exec';

/**
 * Stop is accepted in every live state: during a start it cancels the start, during a stop it
 * is a no-op (or upgrades a graceful stop to a forced one), as Dobby's Stop does.
 */
export const allowedOperations: Readonly<Record<ContainerPhase, readonly Operation[]>> = {
  unknown: ['start'],
  adopting: ['stop'],
  creating: ['stop'],
  created: ['stop'],
  starting: ['stop'],
  running: ['stop', 'pause', 'exec'],
  pausing: ['stop'],
  paused: ['stop', 'resume'],
  resuming: ['stop'],
  stopping: ['stop'],
  stopped: [],
};

export function isAllowed(phase: ContainerPhase, op: Operation): boolean {
  return allowedOperations[phase].includes(op);
}

export function refusalMessage(id: string, phase: ContainerPhase, op: Operation): string {
  const allowed = allowedOperations[phase];
  const hint = allowed.length === 0 ? 'it accepts no commands' : `it accepts only: ${allowed.join(', ')}`;
  return `cannot ${op} container '${id}' while it is ${phase}; ${hint}`;
}
