// Spec errors and results: every problem names the field path and says what would be right.

import { DobbyError } from '../errors.ts';

export type SpecErrorCode =
  | 'SYNTAX'
  | 'TOO_LARGE'
  | 'MISSING'
  | 'WRONG_TYPE'
  | 'OUT_OF_RANGE'
  | 'INVALID_VALUE'
  | 'UNKNOWN_NAME'
  | 'NOT_ALLOWED'
  | 'HOST';

export interface SpecError {
  readonly code: SpecErrorCode;
  /** Field path in the spec: `user.uid`, `mounts[0].destination`, `rdkPlugins.logging.data`; `` for the whole spec. */
  readonly path: string;
  /** The whole sentence, starting with the path, e.g. `user.uid: 0 is not allowed; ...`. */
  readonly message: string;
}

export type Result<T> =
  | { readonly ok: true; readonly value: T; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly errors: readonly SpecError[]; readonly warnings: readonly string[] };

/** More than this many errors (or warnings) are counted, not listed: a hostile spec could produce millions. */
export const MAX_LISTED = 50;

/** Collects errors and warnings while a spec is read, so all of them are reported, not only the first. */
export class Issues {
  readonly errors: SpecError[] = [];
  readonly warnings: string[] = [];
  private moreErrors = 0;
  private moreWarnings = 0;

  /** Reports `path: message`; the message says what is wrong and what would be right. */
  error(code: SpecErrorCode, path: string, message: string): void {
    this.sentence(code, path, path === '' ? message : `${path}: ${message}`);
  }

  /** A whole sentence that already names the field (e.g. `swapLimit (1000) must be >= memLimit (2000)`). */
  sentence(code: SpecErrorCode, path: string, message: string): void {
    if (this.errors.length < MAX_LISTED) this.errors.push({ code, path, message });
    else this.moreErrors++;
  }

  warn(message: string): void {
    if (this.warnings.length < MAX_LISTED) this.warnings.push(message);
    else this.moreWarnings++;
  }

  get failed(): boolean {
    return this.errors.length > 0;
  }

  result<T>(value: T): Result<T> {
    const warnings = this.moreWarnings === 0 ? [...this.warnings] : [...this.warnings, `... and ${this.moreWarnings} more warnings`];
    if (!this.failed) return { ok: true, value, warnings };
    const more: SpecError[] = this.moreErrors === 0
      ? []
      : [{ code: this.errors[this.errors.length - 1]!.code, path: '', message: `... and ${this.moreErrors} more problems` }];
    return { ok: false, errors: [...this.errors, ...more], warnings };
  }
}

/** One error per line, for logs and for a D-Bus or CLI reply. */
export function formatSpecErrors(errors: readonly SpecError[]): string {
  return errors.map((e) => e.message).join('\n');
}

/** The daemon's typed error for a rejected spec (INVALID_ARGUMENT), all problems in the message. */
export function specErrorsToDobbyError(errors: readonly SpecError[], containerId?: string): DobbyError {
  const head = errors.length === 1 ? 'invalid Dobby spec' : `invalid Dobby spec (${errors.length} problems)`;
  return new DobbyError('INVALID_ARGUMENT', `${head}:\n${formatSpecErrors(errors)}`, { containerId });
}
