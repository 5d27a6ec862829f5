// Shell-style expansion of path-valued settings (Dobby runs them through wordexp): $VAR, ${VAR} and a leading ~.

/** Expands `value`, or returns an error text: an undefined variable or a command substitution makes it invalid. */
export function expandPath(value: string, env: NodeJS.ProcessEnv): { ok: true; value: string } | { ok: false; problem: string } {
  if (/\$\(|`/.test(value)) return { ok: false, problem: 'command substitution ($(...) or `...`) is not allowed' };
  let missing: string | null = null;
  let out = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_all, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const v = env[name];
    if (v === undefined) missing ??= name;
    return v ?? '';
  });
  if (missing !== null) return { ok: false, problem: `the environment variable ${missing} is not set` };
  if (out === '~' || out.startsWith('~/')) {
    const home = env['HOME'];
    if (home === undefined) return { ok: false, problem: 'it starts with ~ but HOME is not set' };
    out = home + out.slice(1);
  }
  return { ok: true, value: out };
}
