// The event bus: every lifecycle transition, exit and OOM kill, and every plugin hook run, fanned
// out to the API, the logger and tests.

import { Subject, type Observable, type Subscription } from 'rxjs';
import type { ExitStatus } from './exit-status.ts';
import type { HookRun } from './plugins/types.ts';

interface EventBase {
  readonly id: string;
  readonly descriptor: number;
  /** Milliseconds since the epoch. */
  readonly at: number;
}

export type LifecycleEvent =
  | (EventBase & { readonly type: 'created' })
  | (EventBase & { readonly type: 'started' })
  | (EventBase & { readonly type: 'paused' })
  | (EventBase & { readonly type: 'resumed' })
  | (EventBase & { readonly type: 'exited' } & ExitStatus)
  | (EventBase & { readonly type: 'start-failed'; readonly code: string; readonly message: string })
  | (EventBase & { readonly type: 'deleted' })
  /** A plugin hook ended (not a state change: consumers of the lifecycle order skip it). */
  | (EventBase & HookRun & { readonly type: 'hook' });

export type LifecycleEventType = LifecycleEvent['type'];

export type BusListener = (event: LifecycleEvent) => void;

/**
 * A hot stream of lifecycle events. Each subscriber is isolated: a listener that throws is
 * reported to `onListenerError` and keeps receiving events; the others never see the error.
 */
export class EventBus {
  readonly #subject = new Subject<LifecycleEvent>();
  readonly #onListenerError: (err: unknown, event: LifecycleEvent) => void;

  constructor(onListenerError: (err: unknown, event: LifecycleEvent) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  publish(event: LifecycleEvent): void {
    this.#subject.next(event);
  }

  /** The raw stream, for rxjs pipelines; listeners attached here must handle their own errors. */
  get events$(): Observable<LifecycleEvent> {
    return this.#subject.asObservable();
  }

  subscribe(listener: BusListener): Subscription {
    return this.#subject.subscribe({
      next: (event) => {
        try {
          listener(event);
        } catch (err) {
          try {
            this.#onListenerError(err, event);
          } catch {
            // The error reporter itself failed; there is nobody left to tell.
          }
        }
      },
    });
  }

  complete(): void {
    this.#subject.complete();
  }
}
