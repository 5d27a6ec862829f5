// The typed form of Dobby's settings file (`/etc/dobby.json`): every key Dobby reads, checked, with Dobby's defaults.

import type { ExtraMount } from '../spec/options.ts';

/** A mount settings add to spec containers that enable the gpu / vpu; options sorted and deduplicated (Dobby keeps a set). */
export type SettingsMount = ExtraMount;

/** Settings `gpu` / `vpu`: what a spec container that enables the hardware gets. */
export interface HardwareSettings {
  /** Extra group ids (names resolved at load), sorted, > 0. */
  readonly groupIds: readonly number[];
  /** Device node paths or globs, `$VAR`s expanded; only character devices are used. */
  readonly devNodes: readonly string[];
  readonly extraMounts: readonly SettingsMount[];
  /** `NAME=value` entries. */
  readonly extraEnvVariables: readonly string[];
}

export interface LogRelaySettings {
  readonly enable: boolean;
  readonly socketPath: string;
}

export interface DobbySettings {
  /** The file the settings came from; null when Dobby's built-in defaults are used. */
  readonly source: string | null;
  readonly paths: { readonly workspaceDir: string; readonly persistentDir: string };
  readonly logging: { readonly consoleSocket: string };
  /** Settings `extraEnvVariables` after the platform's ETHAN_STB_* (the settings win on a clash). */
  readonly extraEnvVariables: readonly string[];
  readonly gpu: HardwareSettings | null;
  readonly vpu: HardwareSettings | null;
  readonly network: {
    /** null: the key is absent (dobbyd then uses its built-in eth0, wlan0). */
    readonly externalInterfaces: readonly string[] | null;
    /** `a.b.c.0/24`, from `addressRange: "a.b.c.0"`; null when absent. */
    readonly addressRange: string | null;
    /** dobbyd's extension: IPv6 on the dobby0 bridge (and for containers asking for it). Default false. */
    readonly ipv6: boolean;
  };
  /** Plugin name → data (null for the string form), added to every spec container with required false. */
  readonly defaultPlugins: Readonly<Record<string, unknown>>;
  readonly logRelay: { readonly syslog: LogRelaySettings | null; readonly journald: LogRelaySettings | null };
  /** null when the `strace` object is absent. */
  readonly strace: { readonly logsDir: string; readonly apps: readonly string[] } | null;
  readonly apparmor: { readonly enable: boolean; readonly defaultProfile: string };
  readonly pids: { readonly enable: boolean; readonly limit: number };
}

/** Dobby's path for the settings file. */
export const DEFAULT_SETTINGS_FILE = '/etc/dobby.json';
