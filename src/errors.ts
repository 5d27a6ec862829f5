// Typed errors: every failure a user can see carries a code, the thing that is wrong and what would be right.

export type ErrorCode =
  | 'INVALID_ID'
  | 'DUPLICATE_ID'
  | 'UNKNOWN_CONTAINER'
  | 'ILLEGAL_STATE'
  | 'INVALID_ARGUMENT'
  | 'BUNDLE_INVALID'
  | 'RUNTIME_FAILED'
  | 'RUNTIME_MISSING'
  | 'MONITOR_FAILED'
  | 'MONITOR_MISSING'
  | 'NO_DESCRIPTORS'
  | 'HOST_UNSUITABLE'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'INTERNAL';

export interface ErrorDetails {
  readonly containerId?: string;
  /** The runtime or monitor verb that failed (create, start, kill, ...). */
  readonly verb?: string;
  /** Exit status of the failing tool, when a tool failed. */
  readonly exitStatus?: number | null;
  readonly stderr?: string;
  readonly cause?: unknown;
}

export class DobbyError extends Error {
  readonly code: ErrorCode;
  readonly containerId: string | undefined;
  readonly verb: string | undefined;
  readonly exitStatus: number | null | undefined;
  readonly stderr: string | undefined;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'DobbyError';
    this.code = code;
    this.containerId = details.containerId;
    this.verb = details.verb;
    this.exitStatus = details.exitStatus;
    this.stderr = details.stderr;
  }

  /** A plain object for logs and for the wire (JSON output of the CLI). */
  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.containerId === undefined ? {} : { containerId: this.containerId }),
      ...(this.verb === undefined ? {} : { verb: this.verb }),
      ...(this.exitStatus === undefined ? {} : { exitStatus: this.exitStatus }),
      ...(this.stderr === undefined ? {} : { stderr: this.stderr }),
    };
  }
}

/** Turns anything thrown into a DobbyError, keeping typed ones as they are. */
export function toDobbyError(err: unknown, fallback: ErrorCode = 'INTERNAL', containerId?: string): DobbyError {
  if (err instanceof DobbyError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new DobbyError(fallback, message, { containerId, cause: err });
}
