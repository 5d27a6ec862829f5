// Exec's option string (crun exec style: --tty, --env K=V, --cwd DIR) and command string, as Dobby splits them on spaces.

import type { ExecRequest } from '../../manager-types.ts';

export type ExecParse = { readonly ok: true; readonly request: ExecRequest } | { readonly ok: false; readonly reason: string };

/** Dobby splits on single spaces; empty pieces (from doubled spaces) carry nothing and are dropped. */
export function splitWords(text: string): string[] {
  return text.split(' ').filter((w) => w !== '');
}

export function parseExec(options: string, command: string): ExecParse {
  const args = splitWords(command);
  if (args.length === 0) return { ok: false, reason: 'exec needs a command' };
  const env: string[] = [];
  let cwd: string | undefined;
  let tty = false;
  const words = splitWords(options);
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const [name, inline] = word.startsWith('--') && word.includes('=') ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)] : [word, undefined];
    const value = (): string | undefined => inline ?? words[++i];
    if (name === '--tty' || name === '-t') tty = true;
    else if (name === '--detach' || name === '-d') continue; // exec is always detached
    else if (/^-[td]+$/.test(name)) tty ||= name.includes('t');
    else if (name === '--env' || name === '-e') {
      const v = value();
      if (v === undefined || !v.includes('=')) return { ok: false, reason: `exec option ${name} needs KEY=VALUE` };
      env.push(v);
    } else if (name === '--cwd') {
      const v = value();
      if (v === undefined || !v.startsWith('/')) return { ok: false, reason: '--cwd needs an absolute directory' };
      cwd = v;
    } else {
      return { ok: false, reason: `unknown exec option '${word}' (known: --tty, --env K=V, --cwd DIR, --detach)` };
    }
  }
  return { ok: true, request: { args, ...(env.length > 0 ? { env } : {}), ...(cwd === undefined ? {} : { cwd }), ...(tty ? { tty } : {}) } };
}
