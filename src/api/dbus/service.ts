// Puts the Dobby object on a bus: connects with dbus-next (fd passing on), routes every call itself, owns org.rdk.dobby, emits Ready.

import { setTimeout as sleep } from 'node:timers/promises';
import dbus from 'dbus-next';
import type { Subscription } from 'rxjs';
import { DobbyError } from '../../errors.ts';
import type { ContainerMounter, ContainerStats, ContainerUsage } from '../../host-services.ts';
import type { Logger } from '../../log.ts';
import type { ContainerManager } from '../../manager-types.ts';
import { adminHandlers, debugHandlers } from './admin-handlers.ts';
import { ctrlHandlers } from './ctrl-handlers.ts';
import type { AdminHooks, HandlerDeps, SpecSupport } from './deps.ts';
import { Dispatcher, type IncomingCall, type Replier } from './dispatcher.ts';
import { frameUnixFds } from './fd-framing.ts';
import { ADMIN_IFACE, CTRL_IFACE, DEBUG_IFACE, DOBBY_OBJECT, DOBBY_SERVICE, STATS_IFACE } from './names.ts';
import { statsHandlers } from './stats-handlers.ts';
import { portsHandlers, type PortService } from './ports-handlers.ts';
import { PORTS_IFACE } from './ports-protocol.ts';
import { DobbySignals } from './signals.ts';
import { rawReplySender, rawSignalSender } from './raw-signals.ts';

export interface DbusServiceOptions extends AdminHooks {
  readonly manager: ContainerManager & Partial<SpecSupport>;
  readonly logger: Logger;
  /** A D-Bus server address (see resolveBus). */
  readonly address: string;
  /** Well-known name to own; Dobby's by default (tests may pick another). */
  readonly serviceName?: string;
  /** The host services the handlers use; daemon.ts gives the real drivers. */
  readonly mounter: ContainerMounter;
  /** GetInfo's reader of the container's cgroups and processes. */
  readonly readStats: (pid: number | null) => Promise<ContainerStats>;
  /** GetStats' reader (stats1). */
  readonly readUsage: (pid: number | null) => Promise<ContainerUsage | null>;
  /** The port manager behind org.rdk.dobby.ports1; without it AddPort/RemovePort fail and ListPorts is empty. */
  readonly ports?: PortService;
  /** Connection attempts before giving up (Dobby: 5, back-off from 200 ms). */
  readonly connectAttempts?: number;
  /** Called once if the bus connection is lost while serving (the bus daemon died); default: logged. */
  readonly onBusLost?: (reason: unknown) => void;
  /**
   * Calls other than admin1's wait until this settles: the daemon serves before it has adopted the
   * containers an earlier one left (so their signals reach the bus), and a Stop or GetState of one
   * of them must not be answered as if it were unknown meanwhile. Calls keep their order.
   */
  readonly ready?: Promise<unknown>;
}

export interface DbusService {
  readonly address: string;
  /** This connection's unique bus name (`:1.N`). */
  readonly uniqueName: string;
  /** Stops serving: no more calls or signals, name released, connection closed. */
  close(): Promise<void>;
}

// dbus-next's typings omit these (present at run time).
interface BusOptions {
  readonly busAddress: string;
  readonly negotiateUnixFd: boolean;
}
interface RawMessage {
  readonly type: number;
  readonly serial: number;
  readonly path: string;
  readonly interface?: string;
  readonly member: string;
  readonly signature?: string;
  readonly body?: unknown[];
  readonly sender?: string;
  readonly flags?: number;
}

const METHOD_CALL = 1;
const NO_REPLY_EXPECTED = 1;
const PRIMARY_OWNER = 1;
const ALREADY_OWNER = 4;
/** Name requests before giving up, and the first back-off (doubled each time). */
const NAME_ATTEMPTS = 5;
const NAME_RETRY_MS = 200;

function connectOnce(address: string, timeoutMs: number): Promise<dbus.MessageBus> {
  return new Promise((resolve, reject) => {
    let bus: dbus.MessageBus;
    try {
      bus = dbus.sessionBus({ busAddress: address, negotiateUnixFd: true } as BusOptions as dbus.SessionBusOptions);
    } catch (err) {
      reject(err);
      return;
    }
    const timer = setTimeout(() => done(new Error(`no answer from ${address} within ${timeoutMs} ms`)), timeoutMs);
    const done = (err: unknown): void => {
      clearTimeout(timer);
      bus.removeAllListeners('connect');
      if (err === undefined) {
        resolve(bus);
      } else {
        bus.removeAllListeners('error');
        bus.on('error', () => {});
        try {
          bus.disconnect();
        } catch {
          // never connected
        }
        reject(err);
      }
    };
    bus.once('connect', () => done(undefined));
    bus.once('error', (err: unknown) => done(err ?? new Error('connection failed')));
  });
}

async function connect(address: string, attempts: number, logger: Logger): Promise<dbus.MessageBus> {
  let delay = 200;
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(address, 5_000);
    } catch (err) {
      if (attempt >= attempts) {
        throw new DobbyError('HOST_UNSUITABLE', `cannot connect to the D-Bus bus at ${address} after ${attempts} attempts: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      logger.warn({ err, address, attempt }, `cannot connect to D-Bus yet; retrying in ${delay} ms`);
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}

export async function startDbusService(options: DbusServiceOptions): Promise<DbusService> {
  const logger = options.logger.child({ component: 'dbus' });
  let serving = true;
  const serviceName = options.serviceName ?? DOBBY_SERVICE;
  const bus = await connect(options.address, options.connectAttempts ?? 5, logger);
  // dbus-next keeps its connection in `_connection.stream`; see fd-framing.ts for why it is wrapped.
  const framing = frameUnixFds((bus as unknown as { _connection?: { stream?: unknown } })._connection?.stream);
  if (framing === null) {
    logger.warn('D-Bus connection without unix fd support (usocket missing or not built for this Node): StartFromBundle fds will not arrive');
  }
  let lost = false;
  const busLost = (reason: unknown): void => {
    if (lost || !serving) return;
    lost = true;
    logger.fatal({ err: reason, address: options.address }, 'lost the D-Bus connection: no more calls or signals');
    options.onBusLost?.(reason);
  };
  bus.on('error', (err: unknown) => busLost(err));
  (bus as unknown as { _connection?: { on?(event: string, fn: () => void): void } })._connection?.on?.('end', () => busLost(new Error('the bus closed the connection')));

  /** Runs `write`, logging (never throwing) its failure: a closed bus must not break the caller. */
  const sending = (member: string | undefined, write: () => void): void => {
    try {
      write();
    } catch (err) {
      logger.error({ err, member }, 'could not send a D-Bus message');
    }
  };
  const send = (message: dbus.Message): void => sending(message.member, () => bus.send(message));
  const rawSignal = rawSignalSender(bus);
  const rawReply = rawReplySender(bus);
  const signals = new DobbySignals(
    rawSignal === null
      ? (iface, member, signature, body) => send(dbus.Message.newSignal(DOBBY_OBJECT, iface, member, signature, [...body]))
      : (iface, member, signature, body) => rawSignal(DOBBY_OBJECT, iface, member, signature, body),
    logger,
  );
  const deps: HandlerDeps = {
    manager: options.manager,
    logger,
    rootLogger: options.logger,
    signals,
    mounter: options.mounter,
    readStats: options.readStats,
    admin: options,
  };
  const dispatcher = new Dispatcher({
    [ADMIN_IFACE]: adminHandlers(deps),
    [CTRL_IFACE]: ctrlHandlers(deps),
    [DEBUG_IFACE]: debugHandlers(deps),
    [STATS_IFACE]: statsHandlers({ manager: options.manager, logger, readUsage: options.readUsage }),
    [PORTS_IFACE]: portsHandlers({ manager: options.manager, ports: options.ports, logger }),
  }, logger);

  let gate: Promise<void> | null = options.ready === undefined ? null : options.ready.then(() => undefined, () => undefined);
  void gate?.then(() => {
    gate = null;
  });
  const onMessage = (raw: dbus.Message): boolean => {
    const msg = raw as unknown as RawMessage;
    if (msg.type !== METHOD_CALL || !serving) return false;
    const call: IncomingCall = {
      path: msg.path,
      interface: msg.interface,
      member: msg.member,
      signature: msg.signature ?? '',
      body: msg.body ?? [],
      sender: msg.sender,
      noReply: ((msg.flags ?? 0) & NO_REPLY_EXPECTED) !== 0,
      fds: framing?.takeFds() ?? [],
    };
    const replier: Replier = {
      reply: (signature, body) => sending(msg.member, () => {
        if (rawReply?.(msg.serial, msg.sender, signature, body) !== true) bus.send(dbus.Message.newMethodReturn(raw, signature, [...body]));
      }),
      // dbus-next's typings say `msg: string`; it takes the Message it answers.
      error: (name, text) => send(dbus.Message.newError(raw as unknown as string, name, text)),
    };
    const ungated = call.interface === ADMIN_IFACE || call.interface?.startsWith('org.freedesktop.DBus.') === true;
    if (gate === null || ungated) dispatcher.dispatch(call, replier);
    else void gate.then(() => dispatcher.dispatch(call, replier));
    return true;
  };
  bus.addMethodHandler(onMessage);

  const subscription: Subscription = options.manager.events$.subscribe({
    next: (event) => {
      try {
        signals.onEvent(event);
      } catch (err) {
        logger.error({ err, event: event.type, containerId: event.id }, 'could not turn an event into signals');
      }
    },
    error: (err: unknown) => logger.error({ err }, 'the manager event stream failed: no more container signals'),
  });

  const close = async (): Promise<void> => {
    if (!serving) return;
    serving = false;
    subscription.unsubscribe();
    bus.removeMethodHandler(onMessage);
    // The bus may be gone already (its daemon ended first): never wait long for the release.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      bus.releaseName(serviceName).catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, 1_000))),
    ]);
    clearTimeout(timer);
    try {
      bus.disconnect();
    } catch (err) {
      logger.debug({ err }, 'the D-Bus connection was already closed');
    }
  };

  // A dobbyd that was just killed may still own the name until the bus notices its socket closed:
  // retry with back-off (Dobby: 5 attempts from 200 ms) before deciding another daemon runs.
  let reply = 0;
  for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
    if (attempt > 0) await sleep(NAME_RETRY_MS * 2 ** (attempt - 1));
    try {
      reply = await bus.requestName(serviceName, dbus.NameFlag.DO_NOT_QUEUE);
    } catch (err) {
      await close();
      throw new DobbyError('HOST_UNSUITABLE', `the bus refused to let dobbyd own ${serviceName}: ${err instanceof Error ? err.message : String(err)} (is the policy file etc/dbus-1/system.d/org.rdk.dobby.conf installed?)`, { cause: err });
    }
    if (reply === PRIMARY_OWNER || reply === ALREADY_OWNER) break;
    logger.warn({ name: serviceName, attempt: attempt + 1 }, `${serviceName} is owned by another connection; trying again`);
  }
  if (reply !== PRIMARY_OWNER && reply !== ALREADY_OWNER) {
    await close();
    throw new DobbyError('HOST_UNSUITABLE', `${serviceName} is already owned on ${options.address}: is another dobbyd or DobbyDaemon running?`);
  }
  send(dbus.Message.newSignal(DOBBY_OBJECT, ADMIN_IFACE, 'Ready', '', []));
  const uniqueName = (bus as unknown as { name: string | null }).name ?? '';
  logger.info({ address: options.address, name: serviceName, uniqueName }, `serving ${serviceName} on D-Bus`);
  return { address: options.address, uniqueName, close };
}
