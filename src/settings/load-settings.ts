// Reads Dobby's settings file: the given path must be readable; Dobby's default path may be missing (defaults then).

import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { DobbyError } from '../errors.ts';
import { describeJsonError } from '../spec/json-syntax.ts';
import { stripJsonComments } from './json-comments.ts';
import { parseSettings, type ParseSettingsContext } from './parse-settings.ts';
import { DEFAULT_SETTINGS_FILE, type DobbySettings } from './types.ts';

/** Far more than any settings file; a bigger file is a mistake (a wrong path), not settings. */
export const MAX_SETTINGS_BYTES = 1024 * 1024;

export interface LoadedSettings {
  readonly settings: DobbySettings;
  /** What the daemon should log (e.g. the default file is missing). */
  readonly warnings: readonly string[];
}

/** The host's /etc/group as name → gid (read once per load). */
export function hostGroupLookup(groupFile = '/etc/group'): (name: string) => number | undefined {
  let groups: Map<string, number> | null = null;
  return (name) => {
    if (groups === null) {
      groups = new Map();
      let text = '';
      try {
        text = readFileSync(groupFile, 'utf8');
      } catch {
        // No group db: every name is then unknown, which the check reports.
      }
      for (const line of text.split('\n')) {
        const [n, , gid] = line.split(':');
        if (n !== undefined && gid !== undefined && /^\d+$/.test(gid)) groups.set(n, Number(gid));
      }
    }
    return groups.get(name);
  };
}

function usableDir(path: string): boolean {
  try {
    accessSync(path, constants.R_OK | constants.W_OK | constants.X_OK);
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export function hostSettingsContext(env: NodeJS.ProcessEnv = process.env): ParseSettingsContext {
  return { env, groupId: hostGroupLookup(), isUsableDir: usableDir };
}

/** Checks settings text (JSON with comments allowed, as jsoncpp reads it); `source` names it in errors. */
export function settingsFromText(text: string, source: string, ctx: ParseSettingsContext): LoadedSettings {
  let doc: unknown;
  const stripped = stripJsonComments(text);
  try {
    doc = JSON.parse(stripped);
  } catch (err) {
    throw new DobbyError('INVALID_ARGUMENT', `settings file '${source}' is not valid JSON: ${describeJsonError(stripped, err)}`);
  }
  const parsed = parseSettings(doc, ctx);
  if (!parsed.ok) {
    throw new DobbyError('INVALID_ARGUMENT', `settings file '${source}': ${parsed.problems.join('; ')}`);
  }
  return { settings: { source, ...parsed.settings }, warnings: parsed.warnings.map((w) => `settings file '${source}': ${w}`) };
}

/** Dobby's built-in settings (the RDK build's), as used when the default file is missing. */
export function defaultSettings(ctx: ParseSettingsContext): DobbySettings {
  const parsed = parseSettings({}, ctx);
  if (!parsed.ok) throw new DobbyError('INTERNAL', `the built-in settings do not check: ${parsed.problems.join('; ')}`);
  return { source: null, ...parsed.settings };
}

/**
 * `explicitPath` is `--settings-file`: it must exist and be readable (Dobby exits with "cannot access settings
 * file"). Without it, Dobby's default path is read when it exists, else the built-in defaults are used.
 */
export async function loadSettings(explicitPath: string | null, ctx: ParseSettingsContext = hostSettingsContext()): Promise<LoadedSettings> {
  const path = explicitPath ?? DEFAULT_SETTINGS_FILE;
  let text: string;
  try {
    const info = statSync(path);
    if (!info.isFile()) throw new DobbyError('INVALID_ARGUMENT', `settings file '${path}' is not a regular file`);
    if (info.size > MAX_SETTINGS_BYTES) throw new DobbyError('INVALID_ARGUMENT', `settings file '${path}' is ${info.size} bytes; settings are at most ${MAX_SETTINGS_BYTES}`);
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof DobbyError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    if (explicitPath !== null) {
      throw new DobbyError('INVALID_ARGUMENT', `cannot access settings file @ '${path}' (${code}): give a readable file to --settings-file`, { cause: err });
    }
    if (code !== 'ENOENT') throw new DobbyError('INVALID_ARGUMENT', `cannot read the settings file '${path}' (${code})`, { cause: err });
    return { settings: defaultSettings(ctx), warnings: [`missing or inaccessible settings file '${path}', using defaults`] };
  }
  return settingsFromText(text, path, ctx);
}
