// Restart on crash (a spec's restartOnCrash): whether a container that exited is started again, and after how long.

/**
 * Dobby's limits (at most 10 attempts, the count starting afresh when the previous attempt is more
 * than 5 minutes old) plus what Dobby lacks: an exponential backoff with a cap, so a container that
 * crashes at once does not spin.
 */
export interface RestartPolicy {
  readonly maxAttempts: number;
  /** An attempt older than this no longer counts: the next crash starts from attempt 1 again. */
  readonly resetAfterMs: number;
  /** Delay before the first restart; each further attempt doubles it, up to `maxDelayMs`. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  maxAttempts: 10,
  resetAfterMs: 5 * 60_000,
  initialDelayMs: 500,
  maxDelayMs: 30_000,
};

/** The restarts of one container so far. */
export interface RestartHistory {
  /** Attempts counted since the last reset. */
  readonly attempts: number;
  /** When the last attempt was decided (ms since the epoch), or null before the first. */
  readonly lastAttemptAt: number | null;
}

export const NO_RESTARTS: RestartHistory = { attempts: 0, lastAttemptAt: null };

export type RestartDecision =
  | { readonly restart: true; readonly delayMs: number; readonly attempt: number; readonly history: RestartHistory }
  | { readonly restart: false; readonly reason: 'clean-exit' | 'attempts-exhausted'; readonly history: RestartHistory };

/** The delay before attempt `attempt` (1-based): initial × 2^(attempt−1), capped. */
export function backoffDelay(policy: RestartPolicy, attempt: number): number {
  const exponent = Math.max(0, attempt - 1);
  // 2^exponent overflows to Infinity long after the cap is reached; min() keeps it finite.
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** exponent);
}

/**
 * Decides on one exit. `status` is the raw wait status (Dobby restarts on anything but 0);
 * `now` is the time of the exit in ms since the epoch.
 */
export function decideRestart(policy: RestartPolicy, history: RestartHistory, status: number, now: number): RestartDecision {
  if (status === 0) return { restart: false, reason: 'clean-exit', history };
  const stale = history.lastAttemptAt !== null && now - history.lastAttemptAt > policy.resetAfterMs;
  const counted = stale ? 0 : history.attempts;
  if (counted >= policy.maxAttempts) return { restart: false, reason: 'attempts-exhausted', history: { attempts: counted, lastAttemptAt: history.lastAttemptAt } };
  const attempt = counted + 1;
  return { restart: true, delayMs: backoffDelay(policy, attempt), attempt, history: { attempts: attempt, lastAttemptAt: now } };
}

/** Why a policy cannot be used, or null; for the daemon's options and the manager's. */
export function restartPolicyProblem(policy: RestartPolicy): string | null {
  const whole = (n: number): boolean => Number.isInteger(n) && n >= 0;
  if (!whole(policy.maxAttempts)) return `restart maxAttempts must be a whole number >= 0, got ${policy.maxAttempts}`;
  if (!whole(policy.resetAfterMs)) return `restart resetAfterMs must be a whole number of ms >= 0, got ${policy.resetAfterMs}`;
  if (!whole(policy.initialDelayMs)) return `restart initialDelayMs must be a whole number of ms >= 0, got ${policy.initialDelayMs}`;
  if (!whole(policy.maxDelayMs) || policy.maxDelayMs < policy.initialDelayMs) {
    return `restart maxDelayMs must be a whole number of ms >= initialDelayMs (${policy.initialDelayMs}), got ${policy.maxDelayMs}`;
  }
  return null;
}
