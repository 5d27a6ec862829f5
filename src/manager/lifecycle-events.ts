// Turns what the machines emit into the bus's lifecycle events and the daemon's log lines.

import type { LifecycleEvent } from '../bus.ts';
import type { Logger } from '../log.ts';
import type { Lifecycle } from '../machines/container-types.ts';
import type { SupervisorEmitted } from '../machines/supervisor.ts';

/** A container's lifecycle emission as a bus event, logged on the container's own logger. */
export function lifecycleEvent(descriptor: number, id: string, emitted: Lifecycle, log: Logger): LifecycleEvent {
  const base = { id, descriptor, at: Date.now() };
  switch (emitted.event) {
    case 'exited':
      log.info({ event: 'exited', ...emitted.exit }, 'container exited');
      return { ...base, type: 'exited', ...emitted.exit };
    case 'start-failed':
      log.warn({ event: 'start-failed', err: emitted.error }, 'container failed to start');
      return { ...base, type: 'start-failed', code: emitted.error.code, message: emitted.error.message };
    default:
      log.info({ event: emitted.event }, `container ${emitted.event}`);
      return { ...base, type: emitted.event };
  }
}

/** The supervisor's own reports (restarts, replaced or abandoned actors) as log lines. */
export function logSupervisorEvent(logger: Logger, event: SupervisorEmitted): void {
  if (event.type === 'reply' || event.type === 'acknowledged' || event.type === 'removed') return;
  const log = logger.child({ containerId: event.id, descriptor: event.descriptor });
  switch (event.type) {
    case 'restarted':
      log.error({ err: event.error }, 'container actor crashed; re-adopting the container');
      return;
    case 'abandoned':
      log.error({ err: event.error }, 'container actor kept crashing; giving it up');
      return;
    case 'restart-scheduled':
      log.warn({ attempt: event.attempt, delayMs: event.delayMs }, `container crashed; restart attempt ${event.attempt} in ${event.delayMs} ms`);
      return;
    case 'restarting':
      log.info({ attempt: event.attempt }, `restarting the container (attempt ${event.attempt})`);
      return;
    case 'restart-exhausted':
      log.error({ attempts: event.attempts }, `container crashed again after ${event.attempts} restarts in a row; not restarting it any more`);
      return;
    case 'restart-cancelled':
      log.info('pending restart cancelled by a stop');
      return;
  }
}
