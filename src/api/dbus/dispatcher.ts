// Routes method calls by interface, member and signature to handlers, answering bad arguments with Dobby's failure values.

import { closeSync, readFileSync } from 'node:fs';
import type { Logger } from '../../log.ts';
import { introspectionXml } from './introspect.ts';
import { DOBBY_OBJECT, UNKNOWN_METHOD_ERROR } from './names.ts';
import { PROTOCOL, type MethodSpec } from './protocol.ts';
import { fdsInBody, hasInvalidFd } from './signature.ts';

export interface IncomingCall {
  readonly path: string;
  readonly interface: string | undefined;
  readonly member: string;
  readonly signature: string;
  readonly body: readonly unknown[];
  readonly sender: string | undefined;
  readonly noReply: boolean;
  /** Every unix fd the message carried (also those its body does not refer to); closed once answered. */
  readonly fds?: readonly number[];
}

export interface Replier {
  reply(signature: string, body: readonly unknown[]): void;
  error(name: string, message: string): void;
}

export interface CallContext {
  readonly signature: string;
  readonly sender: string | undefined;
  /** Runs once the reply is on its way (signals that must follow the reply wait here). */
  afterReply(fn: () => void): void;
}

/** A method's implementation: gets the already type-checked arguments, returns the reply body. */
export type Handler = (args: readonly unknown[], ctx: CallContext) => readonly unknown[] | Promise<readonly unknown[]>;

export type HandlerTable = Readonly<Record<string, Readonly<Record<string, Handler>>>>;

const INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs';

function accepts(spec: MethodSpec, signature: string): boolean {
  return spec.accepts.includes(signature) || (spec.acceptsAlso?.(signature) ?? false);
}

function closeAll(fds: readonly number[], logger: Logger): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch (err) {
      logger.debug({ err, fd }, 'could not close an fd received over D-Bus');
    }
  }
}

function machineId(): string | null {
  for (const path of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(path, 'utf8').trim();
      if (id !== '') return id;
    } catch {
      // try the next place
    }
  }
  return null;
}

export class Dispatcher {
  readonly #handlers: HandlerTable;
  readonly #logger: Logger;

  constructor(handlers: HandlerTable, logger: Logger) {
    this.#handlers = handlers;
    this.#logger = logger;
  }

  /** Answers every call; never throws. The fds a call carried are closed once it is answered. */
  dispatch(call: IncomingCall, replier: Replier): void {
    const fds = [...new Set([...fdsInBody(call.signature, call.body), ...(call.fds ?? [])])];
    const send: Replier = call.noReply ? { reply: () => {}, error: () => {} } : replier;
    let handled: Promise<void> | void;
    try {
      handled = this.#route(call, send);
    } catch (err) {
      this.#logger.error({ err, member: call.member }, 'a D-Bus call failed unexpectedly');
      handled = undefined;
    }
    if (handled instanceof Promise) {
      void handled
        .catch((err: unknown) => this.#logger.error({ err, member: call.member }, 'a D-Bus call failed unexpectedly'))
        .finally(() => closeAll(fds, this.#logger));
    } else {
      closeAll(fds, this.#logger);
    }
  }

  #route(call: IncomingCall, send: Replier): Promise<void> | void {
    const { member, signature } = call;
    const iface = call.interface;
    if (this.#standard(call, send)) return;
    const unknown = (): void => send.error(UNKNOWN_METHOD_ERROR, `No handler for method ${iface ?? ''}.${member}`);
    if (call.path !== DOBBY_OBJECT) return unknown();
    const ifaceName = iface ?? Object.keys(PROTOCOL).find((name) => PROTOCOL[name]?.methods[member] !== undefined);
    const spec = ifaceName === undefined ? undefined : PROTOCOL[ifaceName]?.methods[member];
    const handler = ifaceName === undefined ? undefined : this.#handlers[ifaceName]?.[member];
    if (spec === undefined || handler === undefined || ifaceName === undefined) return unknown();
    const outSignature = spec.outArgs.map((x) => x.type).join('');
    if (!accepts(spec, signature)) {
      this.#logger.warn({ method: `${ifaceName}.${member}`, signature, accepted: spec.accepts }, 'invalid arguments: answering the failure value');
      send.reply(outSignature, spec.failure);
      return;
    }
    if (hasInvalidFd(signature, call.body)) {
      this.#logger.warn({ method: `${ifaceName}.${member}`, signature }, 'invalid arguments: a unix fd index past the fds the message carried; answering the failure value');
      send.reply(outSignature, spec.failure);
      return;
    }
    const after: (() => void)[] = [];
    const ctx: CallContext = { signature, sender: call.sender, afterReply: (fn) => after.push(fn) };
    const finish = (body: readonly unknown[]): void => {
      send.reply(outSignature, body);
      for (const fn of after) {
        try {
          fn();
        } catch (err) {
          this.#logger.error({ err, method: `${ifaceName}.${member}` }, 'a post-reply step failed');
        }
      }
    };
    const failed = (err: unknown): void => {
      this.#logger.error({ err, method: `${ifaceName}.${member}` }, 'a D-Bus method failed: answering the failure value');
      finish(spec.failure);
    };
    let result: readonly unknown[] | Promise<readonly unknown[]>;
    try {
      result = handler(call.body, ctx);
    } catch (err) {
      return failed(err);
    }
    if (result instanceof Promise) return result.then(finish, failed);
    finish(result);
  }

  /** Introspectable, Peer and Properties; true when the call was one of those. */
  #standard(call: IncomingCall, send: Replier): boolean {
    const { member, signature } = call;
    switch (call.interface) {
      case 'org.freedesktop.DBus.Introspectable': {
        if (member !== 'Introspect') return false;
        const xml = introspectionXml(call.path);
        if (xml === null) return false;
        if (signature !== '') send.error(INVALID_ARGS, 'Introspect takes no arguments');
        else send.reply('s', [xml]);
        return true;
      }
      case 'org.freedesktop.DBus.Peer':
        if (member === 'Ping') {
          send.reply('', []);
          return true;
        }
        if (member === 'GetMachineId') {
          const id = machineId();
          if (id === null) send.error('org.freedesktop.DBus.Error.FileNotFound', 'no machine id on this host (/etc/machine-id)');
          else send.reply('s', [id]);
          return true;
        }
        return false;
      case 'org.freedesktop.DBus.Properties':
        if (call.path !== DOBBY_OBJECT) return false;
        if (member === 'GetAll' && signature === 's') {
          send.reply('a{sv}', [{}]);
          return true;
        }
        if ((member === 'Get' && signature === 'ss') || (member === 'Set' && signature === 'ssv')) {
          send.error(INVALID_ARGS, `the Dobby object has no properties (asked for '${String(call.body[1])}')`);
          return true;
        }
        return false;
      default:
        return false;
    }
  }
}
