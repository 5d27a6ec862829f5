// The plugin interface: Dobby's five hook points with their sync/async hint flags, and the start
// state through which a postConstruction hook adds env vars, fds, mounts and rlimits to the container.

import { DobbyError } from '../errors.ts';
import type { OciDeviceRule, OciMount, OciRlimit } from '../spec/oci-types.ts';
import type { Logger } from '../log.ts';
import type { ExitStatus } from '../exit-status.ts';

/** The hook points, in the order a container passes them. */
export const HOOK_POINTS = ['postConstruction', 'preStart', 'postStart', 'postStop', 'preDestruction'] as const;
export type HookPoint = (typeof HOOK_POINTS)[number];

/**
 * Dobby's hint bits (IDobbyPlugin.h): sync bits 0-4 and async bits 16-20, in HOOK_POINTS order.
 * A plugin names the hooks it implements and how each may run; a hook without a bit is not run.
 */
export const HookHint = {
  PostConstructionSync: 1 << 0,
  PreStartSync: 1 << 1,
  PostStartSync: 1 << 2,
  PostStopSync: 1 << 3,
  PreDestructionSync: 1 << 4,
  PostConstructionAsync: 1 << 16,
  PreStartAsync: 1 << 17,
  PostStartAsync: 1 << 18,
  PostStopAsync: 1 << 19,
  PreDestructionAsync: 1 << 20,
} as const;

export function syncHint(point: HookPoint): number {
  return 1 << HOOK_POINTS.indexOf(point);
}

export function asyncHint(point: HookPoint): number {
  return 1 << (16 + HOOK_POINTS.indexOf(point));
}

/**
 * What a postConstruction hook may add before the container is created. The additions reach the
 * container through the launch config; the caller's bundle is never rewritten.
 */
export interface StartState {
  /** Adds `NAME=value` to the container's environment (ignored when the exact string is already there). */
  addEnvironmentVariable(nameValue: string): void;
  /**
   * Passes an open fd into the container and returns its number there (3, 4, ...). The plugin keeps
   * ownership: it closes the fd itself (at postStop or preDestruction at the latest).
   */
  addFileDescriptor(plugin: string, fd: number): number;
  /** Adds a mount to the container's config (host source, destination inside the container). */
  addMount(mount: OciMount): void;
  /** Sets a `process.rlimits` entry (`RLIMIT_RTPRIO`, ...): replaces the config's entry of that type, else appends. */
  setRlimit(rlimit: OciRlimit): void;
  /**
   * Gives the container a namespace of this type (`network`, `ipc`, ...) unless its config lists one
   * already (joined by path or not), as Dobby's networking plugin adds `network`.
   */
  addNamespace(type: string): void;
  /**
   * Gives the config's `linux.devices` entry at `path` these numbers (and the first cgroup device rule
   * with its old ones), as Dobby's DeviceMapper rewrites them; a path the config has no device at is left alone.
   */
  renumberDevice(renumber: DeviceRenumber): void;
  /** Appends a `linux.resources.devices` rule (the cgroup's device access). */
  addDeviceRule(rule: OciDeviceRule): void;
  /**
   * Adds a gid to `process.user.additionalGids`; in a user namespace the host gid is mapped to the
   * same gid inside (one id), unless the config maps that container gid already.
   */
  addGroup(gid: number): void;
  /** Everything added so far. */
  readonly additions: StartAdditions;
}

/** The container changes the postConstruction hooks asked for. */
export interface StartAdditions {
  readonly env: readonly string[];
  /** Fds after the caller's own; each becomes fd 3 + (callerFds + index) in the container. */
  readonly fds: readonly number[];
  readonly mounts: readonly OciMount[];
  /** One per type, the last one set winning. */
  readonly rlimits?: readonly OciRlimit[];
  /** Namespace types the container gets unless its config has one of the type. */
  readonly namespaces?: readonly string[];
  /** One per path, the last one set winning. */
  readonly devices?: readonly DeviceRenumber[];
  readonly deviceRules?: readonly OciDeviceRule[];
  /** Each once. */
  readonly groups?: readonly number[];
}

/** A device node's numbers on this host. */
export interface DeviceRenumber {
  readonly path: string;
  readonly major: number;
  readonly minor: number;
}

/** What every hook is told about the container. */
export interface HookContext {
  readonly id: string;
  /** Absolute path of the container's rootfs on the host. */
  readonly rootfs: string;
  /** The container's bundle, whose config.json a plugin may read (user, mappings); absent when the hooks run without one. */
  readonly bundle?: string;
  /** The plugin's JSON data from the spec's `plugins` / the bundle's `rdkPlugins`, as given (null when absent). */
  readonly data: unknown;
  /** A child logger with the container id and the plugin name bound. */
  readonly logger: Logger;
  /** Aborted when the hook has run past its time limit; long-running work should stop then. */
  readonly signal: AbortSignal;
}

/**
 * A hook reports failure by throwing or by returning false (Dobby's bool); anything else is success.
 * postStop and preDestruction are told how the container ended when it ran at all.
 */
export type HookResult = boolean | void | Promise<boolean | void>;

export interface DobbyPlugin {
  /** Matched case-insensitively against the spec's `plugins[].name` and the bundle's `rdkPlugins` keys. */
  readonly name: string;
  /** An OR of HookHint bits. */
  readonly hookHints: number;
  /**
   * Checks the plugin's `data` before any hook of the container runs and returns warnings (e.g.
   * unknown fields). A throw (a DobbyError naming the field) fails the start whatever `required`
   * says, as a bad config fails Dobby's parser: nothing has been set up, so nothing is torn down.
   */
  checkData?(data: unknown): readonly string[];
  /**
   * Its postStop and preDestruction hooks run to their end, past the hook time limit: for in-process
   * work that holds host resources (links, rules, leases) and cannot be killed as Dobby kills a timed-out
   * hook's child, so a container is never reported gone (its id free, the daemon done) while that work
   * still runs. Only for plugins whose every step has a time limit of its own.
   */
  readonly awaitedTeardown?: boolean;
  /**
   * Its postStop and preDestruction need nothing of the runtime's container (its state, its
   * cgroup, its processes: all gone by then): the runtime may delete the container while they run.
   * Without it, Dobby's order holds: they end before the runtime's delete begins.
   */
  readonly teardownBesideRuntime?: boolean;
  postConstruction?(ctx: HookContext, startState: StartState): HookResult;
  preStart?(ctx: HookContext & { readonly pid: number }): HookResult;
  postStart?(ctx: HookContext & { readonly pid: number }): HookResult;
  postStop?(ctx: HookContext & { readonly exit: ExitStatus | null }): HookResult;
  preDestruction?(ctx: HookContext & { readonly exit: ExitStatus | null }): HookResult;
}

/**
 * Thrown by a hook whose failure must abort the start even when its plugin is not required: what it
 * was asked to guarantee cannot be had (a container to isolate that would share the host's network).
 */
export class StartAbort extends DobbyError {
  constructor(message: string, containerId: string) {
    super('ABORTED', message, { containerId });
    this.name = 'StartAbort';
  }
}

/** One hook run, as reported on the bus and in GetInfo. */
export interface HookRun {
  readonly plugin: string;
  readonly hook: HookPoint;
  /** How it ran: one after another with the other sync hooks, or concurrently. */
  readonly mode: 'sync' | 'async';
  readonly ok: boolean;
  readonly durationMs: number;
  /** Why it failed, when it did (thrown message, `returned false`, `timed out after N ms`). */
  readonly error?: string;
}

/**
 * What a plugin module's factory (`createPlugin`, or a default export that is a function) is
 * given: the hint bits, so a plugin file needs no import from dobby-ts, and a logger.
 */
export interface PluginHost {
  readonly HookHint: typeof HookHint;
  readonly logger: Logger;
}
