// Bundles an entry point into one .mjs with esbuild, for the checkout's launchers (scripts/bundle.sh) and the release.
// Why a bundle: Node 24 running .ts loads its TypeScript stripper (+18 MB resident) and resolves hundreds of modules
// at start; one bundled .mjs starts faster and keeps the daemon small.

import { build, type Plugin } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildInfo } from '../../src/version.ts';
import { ociValidatorModule } from './oci-validator.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHIMS = join(ROOT, 'scripts', 'bundle-shims');

export interface BundleOptions {
  /** Entry point, relative to the repository. */
  readonly entry: string;
  readonly outfile: string;
  /**
   * The OCI config validator as ajv standalone code (scripts/build/oci-validator.ts), compiled into the bundle
   * in place of the run-time compiler; null leaves the run-time compiler (a checkout without the schema).
   */
  readonly ociValidator: string | null;
  /**
   * A release bundle: usocket is inside it and loads its addon from native/ beside the bundle (no node_modules),
   * and the build's version and commit are stamped in (src/version.ts).
   */
  readonly release?: { readonly buildInfo: BuildInfo };
}

/** Loads `contents` in place of src/spec/oci-validator-built.ts. */
function builtValidator(contents: string): Plugin {
  return {
    name: 'dobby-oci-validator',
    setup(b) {
      b.onLoad({ filter: /[\\/]src[\\/]spec[\\/]oci-validator-built\.ts$/ }, () => ({ contents, loader: 'js' }));
    },
  };
}

/** The bundle's OCI validator: built from the schema when it is installed (a checkout may lack it: null). */
export function devOciValidator(): string | null {
  try {
    return ociValidatorModule();
  } catch {
    return null;
  }
}

export async function bundle(options: BundleOptions): Promise<void> {
  const release = options.release;
  // Each option below was measured on the idle daemon (VmRSS, 1.5 s after start; npm run bench):
  // - minifyWhitespace drops the comments too: a few of xstate's contain non-Latin-1 characters (’), which make
  //   V8 hold the whole 1.5 MB source as a two-byte string (-2.1 MiB). minifySyntax: -0.3 MiB more.
  //   minifyIdentifiers: V8 keeps the whole source for lazy compilation, 988 KB of it with the names, 739 KB
  //   without, and the scopes and constant pools shrink with it (-1.6 MiB). Not keepNames (it gives back 0.9 of
  //   it): our errors carry their own names (the log's err.type is err.name, src/log.ts), and a checkout's
  //   bundle has a source map beside it (dist/NAME.mjs.map, not loaded) to read a stack trace with.
  // - rxjs: its exports map sends platform=node to the CommonJS build, which esbuild cannot tree-shake (336 KiB,
  //   all of it run at load); its ES2015 build leaves the 12 KiB we use (-1.6 MiB).
  // - crypto and xml2js, as required by dbus-next, are loaded on first use; assert and worker_threads, as required
  //   by dbus-next, pino, sonic-boom and thread-stream, are answered without loading them for what those use when
  //   they load and run (scripts/bundle-shims say why), and src/ takes the heavier builtins where it uses them
  //   (src/builtins.ts): -0.6 MiB idle together.
  // - WebAssembly is undefined inside the bundle. Its one user is long.js (dbus-next's 64-bit integers), which
  //   instantiates a tiny module for faster multiply/divide when it loads and falls back to its own JavaScript
  //   (same results) without it; V8's wasm decoder and compiler cost ~0.8 MiB resident for speed a few int64s per
  //   message never need. Plugins are not bundled: they keep WebAssembly (Node's TypeScript stripping needs it).
  // usocket is a native addon: outside the checkout's bundle (node_modules has it), inside a release's with its
  // `bindings` lookup replaced. x11 is an optional dependency of dbus-next that we never install.
  const alias: Record<string, string> = {
    rxjs: join(ROOT, 'node_modules', 'rxjs', 'dist', 'esm', 'index.js'),
    crypto: join(SHIMS, 'crypto.cjs'),
    xml2js: join(SHIMS, 'xml2js.cjs'),
    assert: join(SHIMS, 'assert.cjs'),
    worker_threads: join(SHIMS, 'worker_threads.cjs'),
  };
  if (release !== undefined) alias['bindings'] = join(SHIMS, 'bindings.cjs');
  const define: Record<string, string> = { WebAssembly: 'undefined' };
  if (release !== undefined) define['DOBBY_BUILD'] = JSON.stringify(release.buildInfo);
  await build({
    entryPoints: [join(ROOT, options.entry)],
    outfile: options.outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    logLevel: 'warning',
    external: release === undefined ? ['usocket', 'x11'] : ['x11'],
    minifyWhitespace: true,
    minifySyntax: true,
    minifyIdentifiers: true,
    ...(release === undefined ? { sourcemap: 'external' as const, sourcesContent: false } : {}),
    alias,
    define,
    plugins: options.ociValidator === null ? [] : [builtValidator(options.ociValidator)],
    banner: { js: "import { createRequire as __dobbyCreateRequire } from 'node:module'; const require = __dobbyCreateRequire(import.meta.url);" },
  });
}
