// Dobby's methods and signals: every accepted arity, the failure reply for bad arguments, and names for introspection.

import { ADMIN_IFACE, CTRL_IFACE, DEBUG_IFACE, EVENT_SIGNAL, EVENT_SIGNATURE, EVENTS_IFACE, STATS_IFACE } from './names.ts';
import { PORTS_IFACE, PORTS_PROTOCOL } from './ports-protocol.ts';

export interface Arg {
  readonly name: string;
  readonly type: string;
}

export interface MethodSpec {
  /** In-signatures the method accepts; the first is the one introspection lists (the long form). */
  readonly accepts: readonly string[];
  /** Accepts further signatures by rule (SetLogMethod's free second argument). */
  readonly acceptsAlso?: (signature: string) => boolean;
  readonly inArgs: readonly Arg[];
  readonly outArgs: readonly Arg[];
  /** The reply body for bad arguments or any failure: Dobby never answers with a D-Bus error. */
  readonly failure: readonly unknown[];
}

export interface SignalSpec {
  readonly args: readonly Arg[];
}

export interface InterfaceSpec {
  readonly methods: Readonly<Record<string, MethodSpec>>;
  readonly signals: Readonly<Record<string, SignalSpec>>;
}

const a = (name: string, type: string): Arg => ({ name, type });
const sig = (args: readonly Arg[]): string => args.map((x) => x.type).join('');

const FAIL_B = [false] as const;
const FAIL_I = [-1] as const;
const FAIL_S = [''] as const;

function method(inArgs: readonly Arg[], outArgs: readonly Arg[], failure: readonly unknown[], shorter: readonly number[] = []): MethodSpec {
  return { accepts: [sig(inArgs), ...shorter.map((n) => sig(inArgs.slice(0, n)))], inArgs, outArgs, failure };
}

const START_ARGS = [
  a('id', 's'), a('bundlePath', 's'), a('files', 'ah'), a('command', 's'), a('displaySocket', 's'), a('envVars', 'as'),
  a('userId', 'u'), a('groupId', 'u'),
];
const SPEC_ARGS = [a('id', 's'), a('jsonSpec', 's'), a('files', 'ah'), a('command', 's'), a('displaySocket', 's'), a('envVars', 'as')];
const CD = a('descriptor', 'i');
const OK = [a('success', 'b')];
const CD_AND_ID = { args: [CD, a('id', 's')] };

export const PROTOCOL: Readonly<Record<string, InterfaceSpec>> = {
  [ADMIN_IFACE]: {
    methods: {
      // Dobby never looks at the arguments of Ping, Shutdown and List.
      Ping: { ...method([], [], []), acceptsAlso: () => true },
      Shutdown: { ...method([], [], []), acceptsAlso: () => true },
      SetLogLevel: method([a('level', 'i')], OK, FAIL_B),
      // Dobby's handler insists on a 2nd argument that its own client omits for NULL/SYSLOG; take both.
      SetLogMethod: {
        ...method([a('method', 'u'), a('pipeFd', 'h')], OK, FAIL_B, [1]),
        acceptsAlso: (signature) => /^u(?:[ybnqiuxtdsogh])$/.test(signature),
      },
      SetAIDbusAddress: method([a('privateBus', 'b'), a('address', 's')], OK, FAIL_B),
    },
    signals: { Ready: { args: [] } },
  },
  [CTRL_IFACE]: {
    methods: {
      // Dobby's legacy builds make Start an alias of StartFromSpec; a bundle path is accepted too.
      Start: method(SPEC_ARGS, [CD], FAIL_I, [3]),
      StartFromSpec: method(SPEC_ARGS, [CD], FAIL_I, [3]),
      StartFromBundle: method(START_ARGS, [CD], FAIL_I, [3, 6]),
      Stop: method([CD, a('force', 'b')], OK, FAIL_B),
      Pause: method([CD], OK, FAIL_B),
      Resume: method([CD], OK, FAIL_B),
      Hibernate: method([CD, a('options', 's')], OK, FAIL_B),
      Wakeup: method([CD], OK, FAIL_B),
      Mount: method([CD, a('source', 's'), a('destination', 's'), a('mountFlags', 'as'), a('mountData', 's')], OK, FAIL_B),
      Unmount: method([CD, a('source', 's')], OK, FAIL_B),
      Annotate: method([CD, a('key', 's'), a('value', 's')], OK, FAIL_B),
      RemoveAnnotation: method([CD, a('key', 's')], OK, FAIL_B),
      Exec: method([CD, a('options', 's'), a('command', 's')], OK, FAIL_B),
      GetState: method([CD], [a('state', 'i')], FAIL_I),
      GetInfo: method([CD], [a('info', 's')], FAIL_S),
      List: { ...method([], [a('descriptors', 'ai'), a('ids', 'as')], [[], []]), acceptsAlso: () => true },
    },
    signals: {
      Started: CD_AND_ID,
      StoppedWithStatus: { args: [CD, a('id', 's'), a('status', 'i')] },
      Stopped: CD_AND_ID,
      Hibernated: CD_AND_ID,
      Awoken: CD_AND_ID,
    },
  },
  [DEBUG_IFACE]: {
    methods: {
      CreateBundle: method([a('id', 's'), a('jsonSpec', 's')], OK, FAIL_B),
      GetSpec: method([CD], [a('spec', 's')], FAIL_S),
      GetOCIConfig: method([CD], [a('config', 's')], FAIL_S),
    },
    signals: {},
  },
  [STATS_IFACE]: {
    methods: { GetStats: method([CD], [a('stats', 's')], FAIL_S) },
    signals: {},
  },
  [PORTS_IFACE]: PORTS_PROTOCOL,
  [EVENTS_IFACE]: {
    methods: {},
    signals: {
      [EVENT_SIGNAL]: {
        args: [
          CD, a('id', 's'), a('event', 's'), a('timestampMs', 't'), a('exitCode', 'i'), a('signal', 'i'), a('status', 'i'),
          a('oomKilled', 'b'), a('errorCode', 's'), a('message', 's'),
        ],
      },
    },
  },
};

if (sig(PROTOCOL[EVENTS_IFACE]!.signals[EVENT_SIGNAL]!.args) !== EVENT_SIGNATURE) {
  throw new Error('the events signal table and EVENT_SIGNATURE disagree');
}

export function signalSignature(iface: string, member: string): string {
  const spec = PROTOCOL[iface]?.signals[member];
  if (spec === undefined) throw new Error(`no signal ${iface}.${member}`);
  return sig(spec.args);
}
