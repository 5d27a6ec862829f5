// Gives memory back once the daemon has been quiet for a moment after work: V8's memory reducer
// does the same by itself ~10 s later, and until then a burst of container starts shows in the
// daemon's resident memory (npm run bench: idle + 5 MiB 1.5 s after 100 start/stop cycles, + 2 MiB
// once collected). An embedded device's memory is shared with its apps.

import type { Observable } from 'rxjs';

export interface IdleCollector {
  stop(): void;
}

/** Calls `collect` once no event has come for `quietMs`, after each burst of events. */
export function collectWhenIdle(events$: Observable<unknown>, quietMs: number, collect: () => void): IdleCollector {
  let timer: NodeJS.Timeout | null = null;
  const subscription = events$.subscribe(() => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      collect();
    }, quietMs);
    // It must not keep a daemon that is exiting alive.
    timer.unref();
  });
  return {
    stop() {
      subscription.unsubscribe();
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}
