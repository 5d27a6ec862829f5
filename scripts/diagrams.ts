// npm run diagrams: writes diagrams/<name>.mmd, .dot and .svg for each XState machine of dobby-ts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AnyStateMachine } from 'xstate';
import { renderMachine, type RenderedDiagram } from '../src/tools/diagrams/index.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface MachineEntry {
  /** Diagram file name: diagrams/<name>.mmd|.dot|.svg */
  readonly name: string;
  /** Module path relative to the repo root. */
  readonly module: string;
  readonly exportName: string;
}

/** The machines that get diagrams. */
export const MACHINES: readonly MachineEntry[] = [
  { name: 'container', module: 'src/machines/container.ts', exportName: 'containerMachine' },
  { name: 'supervisor', module: 'src/machines/supervisor.ts', exportName: 'supervisorMachine' },
];

/** Loads one machine; undefined when its module does not exist (yet). */
export async function loadMachine(entry: MachineEntry): Promise<AnyStateMachine | undefined> {
  const path = join(repoRoot, entry.module);
  if (!existsSync(path)) return undefined;
  const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const machine = mod[entry.exportName] as AnyStateMachine | undefined;
  if (machine === undefined || typeof machine !== 'object' || !('root' in machine)) {
    throw new Error(`${entry.module} does not export an XState machine named ${entry.exportName}`);
  }
  return machine;
}

/** Mermaid and DOT text for one machine, exactly as committed under diagrams/. */
export function renderEntry(entry: MachineEntry, machine: AnyStateMachine): RenderedDiagram {
  return renderMachine(entry.name, machine, entry.module);
}

/** Paths of the three files of one diagram. */
export function diagramPaths(name: string): { mmd: string; dot: string; svg: string } {
  const base = join(repoRoot, 'diagrams', name);
  return { mmd: `${base}.mmd`, dot: `${base}.dot`, svg: `${base}.svg` };
}

/** Renders DOT text to SVG with Graphviz's dot. */
export function dotToSvg(dot: string): string {
  const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error !== undefined) throw new Error(`cannot run dot (${r.error.message}): apt-get install graphviz (or bash scripts/setup.sh)`);
  if (r.status !== 0) throw new Error(`dot -Tsvg failed (exit ${r.status}): ${r.stderr}`);
  return r.stdout;
}

async function main(): Promise<void> {
  mkdirSync(join(repoRoot, 'diagrams'), { recursive: true });
  for (const entry of MACHINES) {
    const machine = await loadMachine(entry);
    if (machine === undefined) {
      process.stderr.write(`diagrams: skipped ${entry.name}: ${entry.module} does not exist yet\n`);
      continue;
    }
    const { mermaid, dot } = renderEntry(entry, machine);
    const paths = diagramPaths(entry.name);
    writeFileSync(paths.mmd, mermaid);
    writeFileSync(paths.dot, dot);
    writeFileSync(paths.svg, dotToSvg(dot));
    process.stdout.write(`diagrams: wrote diagrams/${entry.name}.mmd, .dot, .svg\n`);
  }
}

if (import.meta.main) await main();
