// Signal names and numbers as the runtimes accept them (both take a plain number, so that is what we give).

import { constants } from 'node:os';
import { DobbyError } from '../../errors.ts';

const BY_NAME: Readonly<Record<string, number>> = constants.signals;

/** `SIGTERM`, `TERM`, `term`, `15` or 15 → 15. Throws INVALID_ARGUMENT for anything else. */
export function signalNumber(signal: string | number): number {
  if (typeof signal === 'number') {
    if (Number.isInteger(signal) && signal >= 0 && signal < 65) return signal;
  } else {
    const text = signal.trim().toUpperCase();
    if (/^\d+$/.test(text)) return signalNumber(Number(text));
    const n = BY_NAME[text.startsWith('SIG') ? text : `SIG${text}`];
    if (n !== undefined) return n;
  }
  throw new DobbyError('INVALID_ARGUMENT', `unknown signal '${signal}'; give a name such as SIGTERM or a number from 0 to 64`);
}

export function normaliseSignal(signal: string | number): string {
  return String(signalNumber(signal));
}
