// Console sinks: what a container's `logging` rdkPlugin (or a spec's `console`) asks for, and how the
// monitor and the console follower give it. One implementation for the bundle path, the spec path
// and the built-in `logging` plugin.
//
// conmon always holds the console (it outlives dobbyd), but its k8s-file log prefixes every line
// with a timestamp and the stream, while Dobby's file sink holds the container's raw text, truncated
// at start and never longer than `limit` bytes. conmon's `passthrough` driver would hand the
// container the sink file itself, raw but with no cap at all; its `--log-size-max` starts the file
// over (keeping the end, not the start). So: conmon keeps its k8s-file log with a hard cap on the
// bytes it ever writes (`--log-global-size-max`, sized so that it always covers `limit` raw bytes),
// and dobbyd's follower turns that log into the raw sink file and stops at exactly `limit` bytes.
// devnull is conmon's `none` driver: nothing is written anywhere. journald and syslog are fed by the
// follower through systemd-cat / logger where the host runs them; where it does not, the output
// stays in the monitor's log and the start says so (or fails, when the plugin is required).

import { DobbyError } from '../../errors.ts';

export type LogSink =
  | { readonly kind: 'file'; readonly path: string; /** Bytes; null when unlimited (Dobby's -1). */ readonly limit: number | null }
  | { readonly kind: 'devnull' }
  | { readonly kind: 'journald'; /** syslog priority name, e.g. 'info'. */ readonly priority: string }
  | { readonly kind: 'syslog'; readonly priority: string };

export interface LoggingPlugin {
  readonly sink: LogSink;
  /** The plugin entry's `required`: a sink that cannot be given fails the start instead of falling back. */
  readonly required: boolean;
}

/** What the host offers for console sinks. */
export interface HostLogFacts {
  /** journald listens (/run/systemd/journal/socket) and systemd-cat is installed. */
  readonly journald: boolean;
  /** A syslog daemon listens on /dev/log and logger is installed. */
  readonly syslog: boolean;
}

/** Where the follower sends the raw console text. */
export type FollowTarget =
  | { readonly kind: 'file'; readonly path: string; readonly limit: number | null }
  | { readonly kind: 'process'; readonly command: string; readonly args: readonly string[] };

export interface ConsolePlan {
  /** How conmon keeps the console. */
  readonly monitor: {
    readonly driver: 'k8s-file' | 'none';
    readonly path: string;
    readonly sizeMax?: number;
    readonly totalMax?: number;
  };
  /** The follower's job, when the sink is more than the monitor's log. */
  readonly follow: FollowTarget | null;
  readonly notes: readonly string[];
}

/**
 * The largest k8s-file line for one raw byte: a 43-byte "<RFC 3339 time> <stream> " prefix, the
 * "F " or "P " tag and a newline of its own around a 1-byte line or piece.
 */
export const K8S_BYTES_PER_RAW_BYTE = 48;
const K8S_SLACK = 64 * 1024;

/** conmon's cap on its log so that `limit` raw bytes always fit, however short the lines are. */
export function monitorCapFor(limit: number): number {
  return limit * K8S_BYTES_PER_RAW_BYTE + K8S_SLACK;
}

type Json = { readonly [key: string]: unknown };

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bad(field: string, message: string): DobbyError {
  return new DobbyError('BUNDLE_INVALID', `rdkPlugins.logging.${field} ${message}`);
}

/** `LOG_INFO` / `info` / 6 → `info`, the names systemd-cat and logger take. */
const PRIORITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];

function priorityOf(value: unknown, field: string): string {
  if (value === undefined) return 'info';
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < PRIORITIES.length) return PRIORITIES[value] as string;
  if (typeof value === 'string') {
    const name = value.toLowerCase().replace(/^log_/, '');
    const alias: Record<string, string> = { error: 'err', warn: 'warning', critical: 'crit', emergency: 'emerg' };
    const known = alias[name] ?? name;
    if (PRIORITIES.includes(known)) return known;
  }
  throw bad(field, `must be a syslog priority such as "LOG_INFO" or "LOG_WARNING", got ${JSON.stringify(value)}`);
}

/** The `logging` entry of an OCI config's rdkPlugins (key matched case-insensitively), or null when there is none. */
export function loggingPluginOf(config: Json): LoggingPlugin | null {
  const plugins = config['rdkPlugins'];
  if (!isObject(plugins)) return null;
  const key = Object.keys(plugins).find((k) => k.toLowerCase() === 'logging');
  if (key === undefined) return null;
  const entry = plugins[key];
  if (!isObject(entry)) throw bad('', 'must be an object like {"required": false, "data": {"sink": "file", ...}}');
  const required = entry['required'] === true;
  const data = entry['data'];
  if (!isObject(data)) throw bad('data', 'must be an object with a "sink" of "file", "journald" or "devnull"');
  const sink = data['sink'];
  switch (sink) {
    case 'file': {
      const options = data['fileOptions'];
      if (!isObject(options)) throw bad('data.fileOptions', 'must be an object like {"path": "/tmp/container.log", "limit": 65536} for the file sink');
      const path = options['path'];
      if (typeof path !== 'string' || !path.startsWith('/')) throw bad('data.fileOptions.path', `must be an absolute host path, got ${JSON.stringify(path)}`);
      if (path.split('/').includes('..')) throw bad('data.fileOptions.path', `must not contain '..', got ${JSON.stringify(path)}`);
      const limit = options['limit'];
      if (limit !== undefined && !(typeof limit === 'number' && Number.isSafeInteger(limit) && limit >= -1)) {
        throw bad('data.fileOptions.limit', `must be a byte count >= 0, or -1 for unlimited, got ${JSON.stringify(limit)}`);
      }
      return { required, sink: { kind: 'file', path, limit: limit === undefined || limit === -1 ? null : limit } };
    }
    case 'devnull':
      return { required, sink: { kind: 'devnull' } };
    case 'journald': {
      const options = isObject(data['journaldOptions']) ? data['journaldOptions'] : {};
      return { required, sink: { kind: 'journald', priority: priorityOf(options['priority'], 'data.journaldOptions.priority') } };
    }
    case 'syslog': {
      const options = isObject(data['syslogOptions']) ? data['syslogOptions'] : {};
      return { required, sink: { kind: 'syslog', priority: priorityOf(options['priority'], 'data.syslogOptions.priority') } };
    }
    default:
      throw bad('data.sink', `must be "file", "journald", "syslog" or "devnull", got ${JSON.stringify(sink)}`);
  }
}

export interface PlanDefaults {
  readonly id: string;
  /** The monitor's own log (`<state dir>/logs/<id>.log`), kept for every sink but devnull. */
  readonly monitorLogPath: string;
  /** The caller's cap on the monitor's log when there is no sink of its own. */
  readonly logSizeMax?: number;
}

/** How a container's console is kept, given its logging plugin (or none) and what the host has. Pure. */
export function planConsole(plugin: LoggingPlugin | null, facts: HostLogFacts, defaults: PlanDefaults): ConsolePlan {
  const monitorLog = {
    driver: 'k8s-file' as const,
    path: defaults.monitorLogPath,
    ...(defaults.logSizeMax === undefined ? {} : { sizeMax: defaults.logSizeMax }),
  };
  if (plugin === null) return { monitor: monitorLog, follow: null, notes: [] };
  const { sink } = plugin;
  switch (sink.kind) {
    case 'devnull':
      return { monitor: { driver: 'none', path: defaults.monitorLogPath }, follow: null, notes: [] };
    case 'file':
      return {
        // No --log-size-max: starting the file over would lose what the follower has not read yet.
        monitor: { driver: 'k8s-file', path: defaults.monitorLogPath, ...(sink.limit === null ? {} : { totalMax: monitorCapFor(sink.limit) }) },
        follow: { kind: 'file', path: sink.path, limit: sink.limit },
        notes: [],
      };
    case 'journald':
    case 'syslog': {
      const available = sink.kind === 'journald' ? facts.journald : facts.syslog;
      if (available) {
        const follow: FollowTarget = sink.kind === 'journald'
          ? { kind: 'process', command: 'systemd-cat', args: ['-t', defaults.id, '-p', sink.priority] }
          : { kind: 'process', command: 'logger', args: ['-t', defaults.id, '-p', `user.${sink.priority}`] };
        return { monitor: monitorLog, follow, notes: [] };
      }
      const what = sink.kind === 'journald'
        ? 'journald is not running on this host (no /run/systemd/journal/socket, or no systemd-cat)'
        : 'no syslog daemon listens on this host (no /dev/log socket, or no logger)';
      if (plugin.required) {
        throw new DobbyError('HOST_UNSUITABLE', `the required logging plugin of '${defaults.id}' asks for the ${sink.kind} sink, but ${what}; use the "file" sink or make the plugin not required`, {
          containerId: defaults.id,
        });
      }
      return { monitor: monitorLog, follow: null, notes: [`logging: ${what}; the console output of '${defaults.id}' is kept in ${defaults.monitorLogPath} instead`] };
    }
  }
}
