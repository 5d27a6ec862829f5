// Where the settings go: spec conversion (env, gpu/vpu, default plugins, pids), bundle defaults and the networking plugin.

import { readdirSync, readFileSync } from 'node:fs';
import type { SpecToOciOptions } from '../spec/options.ts';
import { hardwareAccess } from './hardware.ts';
import type { DobbySettings } from './types.ts';

/** The part of spec conversion the settings decide. */
export type SettingsConversion = Pick<SpecToOciOptions, 'extraEnv' | 'gpu' | 'vpu' | 'defaultPlugins' | 'pidsLimit' | 'apparmorProfile'>;

const APPARMOR_PROFILES = '/sys/kernel/security/apparmor/policy/profiles';

/** Whether AppArmor has the profile loaded: Dobby looks for an entry `<profile>.<digit>...` in the policy dir. */
export function apparmorProfileLoaded(profile: string, entries: () => readonly string[] = () => readdirSync(APPARMOR_PROFILES)): boolean {
  try {
    return entries().some((e) => e.startsWith(`${profile}.`) && /^\d/.test(e.slice(profile.length + 1)));
  } catch {
    return false;
  }
}

export function specConversionOf(settings: DobbySettings, profileLoaded: (profile: string) => boolean = apparmorProfileLoaded): SettingsConversion {
  const gpu = hardwareAccess(settings.gpu);
  const vpu = hardwareAccess(settings.vpu);
  return {
    extraEnv: settings.extraEnvVariables,
    ...(gpu === undefined ? {} : { gpu }),
    ...(vpu === undefined ? {} : { vpu }),
    defaultPlugins: settings.defaultPlugins,
    // Dobby sets the limit only when its `pids` setting is on; a spec's own limit still wins.
    pidsLimit: settings.pids.enable ? settings.pids.limit : null,
    // Dobby gives spec containers its default profile when AppArmor has it loaded, and none otherwise.
    ...(settings.apparmor.enable && profileLoaded(settings.apparmor.defaultProfile) ? { apparmorProfile: settings.apparmor.defaultProfile } : {}),
  };
}

/** The pids limit Dobby gives a bundle whose config has none (null: leave it unlimited). */
export function bundlePidsLimitOf(settings: DobbySettings): number | null {
  return settings.pids.enable ? settings.pids.limit : null;
}

export interface NetworkSettings {
  readonly externalInterfaces?: readonly string[];
  readonly addressRange?: string;
  readonly ipv6: boolean;
}

/**
 * The networking plugin's options. As Dobby's plugin does, only the listed interfaces this host has are used;
 * none of them present leaves nat without a way out, which the plugin's rules then show.
 */
export function networkOptionsOf(settings: DobbySettings, hostInterfaces: () => readonly string[] = listHostInterfaces): NetworkSettings {
  const listed = settings.network.externalInterfaces;
  const present = listed === null ? null : new Set(hostInterfaces());
  return {
    ...(listed === null ? {} : { externalInterfaces: listed.filter((name) => present!.has(name)) }),
    ...(settings.network.addressRange === null ? {} : { addressRange: settings.network.addressRange }),
    ipv6: settings.network.ipv6,
  };
}

/**
 * The interfaces of the daemon's network namespace. /proc/net/dev, not Dobby's /sys/class/net: sysfs shows
 * the namespace of whoever mounted it, /proc/net the reader's own (a daemon run under nsenter --net).
 */
export function listHostInterfaces(text?: string): string[] {
  let dev = text;
  try {
    dev ??= readFileSync('/proc/net/dev', 'utf8');
  } catch {
    return [];
  }
  return dev.split('\n').slice(2).map((line) => line.split(':')[0]!.trim()).filter((name) => name !== '');
}
