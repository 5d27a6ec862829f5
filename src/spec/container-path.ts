// Paths inside the container (mount destinations, cwd): absolute, and never climbing out with `..`.

export type PathResult = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

/** `/a//b/./c/` → `/a/b/c`. Rejects relative paths and any `..` component (Dobby refuses them too). */
export function normaliseContainerPath(text: string): PathResult {
  if (text === '') return { ok: false, reason: 'is empty; give an absolute path such as /home/private' };
  if (!text.startsWith('/')) {
    return { ok: false, reason: `'${text.slice(0, 80)}' is not absolute; give a path starting with /` };
  }
  const parts = text.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { ok: false, reason: `'..' is not allowed (in '${text.slice(0, 80)}'); give the path without it` };
  return { ok: true, path: `/${parts.join('/')}` };
}

/** True when `path` is `dir` or below it (both normalised). */
export function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);
}
