// Turns lifecycle events into Dobby's signals in Dobby's order: Started before the start reply; StoppedWithStatus then Stopped at teardown.
// Started has one path, the `started` event: the manager publishes it before it settles the start
// call, so the signal always goes out before the reply. Our own events1.Event signals of a container
// whose start call is in flight follow that reply, in their order: encoding and sending the half
// dozen of them a start makes (created, the hook runs, started) held up its reply by a millisecond
// or two; Dobby's clients see no events1 signal.

import type { LifecycleEvent } from '../../bus.ts';
import type { Logger } from '../../log.ts';
import { CTRL_IFACE, EVENT_SIGNAL, EVENTS_IFACE } from './names.ts';
import { signalSignature } from './protocol.ts';

/** Sends one broadcast signal from the Dobby object. */
export type SignalSink = (iface: string, member: string, signature: string, body: readonly unknown[]) => void;

interface Track {
  readonly id: string;
  startedSent: boolean;
  startFailed: boolean;
  status: number | null;
}

interface InFlightStart {
  /** Start calls for this id not yet answered (a duplicate start of a running id makes two). */
  calls: number;
  readonly deferred: (() => void)[];
}

export class DobbySignals {
  readonly #sink: SignalSink;
  readonly #logger: Logger;
  readonly #tracks = new Map<number, Track>();
  /** Start calls not yet answered, by container id: their events1 and stop signals wait for the reply. */
  readonly #inFlight = new Map<string, InFlightStart>();

  constructor(sink: SignalSink, logger: Logger) {
    this.#sink = sink;
    this.#logger = logger;
  }

  #send(iface: string, member: string, body: readonly unknown[]): void {
    try {
      this.#sink(iface, member, signalSignature(iface, member), body);
    } catch (err) {
      this.#logger.error({ err, signal: `${iface}.${member}` }, 'could not send a D-Bus signal');
    }
  }

  #track(descriptor: number, id: string): Track {
    let track = this.#tracks.get(descriptor);
    if (track === undefined || track.id !== id) {
      track = { id, startedSent: false, startFailed: false, status: null };
      this.#tracks.set(descriptor, track);
    }
    return track;
  }

  /** A start call for `id` began: stop signals for it are held until its reply is sent. */
  beginStart(id: string): void {
    const flight = this.#inFlight.get(id);
    if (flight !== undefined) flight.calls++;
    else this.#inFlight.set(id, { calls: 1, deferred: [] });
  }

  /** The start call's reply has been sent: release what was held. */
  endStart(id: string): void {
    const flight = this.#inFlight.get(id);
    if (flight === undefined || --flight.calls > 0) return;
    this.#inFlight.delete(id);
    for (const fn of flight.deferred) fn();
  }

  onEvent(event: LifecycleEvent): void {
    const { descriptor, id } = event;
    const held = this.#inFlight.get(id);
    if (held !== undefined) held.deferred.push(() => this.#sendEvent(event));
    else this.#sendEvent(event);
    switch (event.type) {
      case 'created':
        this.#tracks.set(descriptor, { id, startedSent: false, startFailed: false, status: null });
        return;
      case 'started': {
        const track = this.#track(descriptor, id);
        if (track.startedSent) return;
        track.startedSent = true;
        this.#send(CTRL_IFACE, 'Started', [descriptor, id]);
        return;
      }
      case 'exited':
        this.#track(descriptor, id).status = event.status;
        return;
      case 'start-failed':
        this.#track(descriptor, id).startFailed = true;
        return;
      case 'deleted': {
        const track = this.#tracks.get(descriptor);
        this.#tracks.delete(descriptor);
        if (track === undefined || track.id !== id || track.startFailed) return;
        if (!track.startedSent && track.status === null) return;
        // No exit status means the exit was never seen; Dobby reports such a container as status 0.
        const status = track.status ?? 0;
        const stopped = (): void => {
          this.#send(CTRL_IFACE, 'StoppedWithStatus', [descriptor, id, status]);
          this.#send(CTRL_IFACE, 'Stopped', [descriptor, id]);
        };
        const flight = this.#inFlight.get(id);
        if (flight !== undefined) flight.deferred.push(stopped);
        else stopped();
        return;
      }
      default:
        return;
    }
  }

  #sendEvent(event: LifecycleEvent): void {
    const exited = event.type === 'exited' ? event : null;
    // A hook run travels in the error fields: the plugin as the code, "<hook> ok|failed in N ms[: why]" as the message.
    const failed = event.type === 'start-failed' ? event : event.type === 'hook' ? { code: event.plugin, message: hookMessage(event) } : null;
    this.#send(EVENTS_IFACE, EVENT_SIGNAL, [
      event.descriptor,
      event.id,
      event.type,
      BigInt(Math.max(0, Math.trunc(event.at))),
      exited?.exitCode ?? -1,
      exited?.signal ?? 0,
      exited?.status ?? -1,
      exited?.oomKilled ?? false,
      failed?.code ?? '',
      failed?.message ?? '',
    ]);
  }
}

function hookMessage(event: Extract<LifecycleEvent, { type: 'hook' }>): string {
  const outcome = `${event.hook} ${event.ok ? 'ok' : 'failed'} in ${event.durationMs} ms`;
  return event.error === undefined ? outcome : `${outcome}: ${event.error}`;
}
