// Runs the node:test files under test/ with this Node (24): all, only unit, or only integration.
// Unit and integration are needs, not folders: a file is integration when it lives in
// test/integration/ or says in its first lines what it needs of the host (`// needs: root crun bus
// netns`, or `cross-toolchains` for a build that compiles for other CPUs); every other file is unit
// and must run without root, crun, conmon, a bus, a namespace or a cross toolchain.
// Usage: node scripts/run-tests.ts [all|unit|integration] [FILTER...] [-- NODE_TEST_ARGS...]
//   FILTER keeps the files whose path contains it. Env: DOBBY_TEST_CONCURRENCY (default 2),
//   DOBBY_TEST_TIMEOUT_MS per test (default 120000), DOBBY_TEST_TOTAL_TIMEOUT_MS for the run (default 18 min).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Every `*.test.ts` under `dir`, as sorted paths relative to the repo root. */
export function findTestFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory() && entry.name !== 'node_modules' && !entry.name.startsWith('.')) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.test.ts')) out.push(relative(root, path));
    }
  };
  walk(dir);
  return out.sort();
}

/** What a test file needs of the host: the words of its `// needs:` line (in its first 10 lines). */
export function needsOf(path: string): string[] {
  const head = readFileSync(join(root, path), 'utf8').split('\n', 10);
  const line = head.find((l) => l.startsWith('// needs:'));
  return line === undefined ? [] : line.slice('// needs:'.length).trim().split(/[\s,]+/).filter((w) => w !== '');
}

/** Integration: under test/integration/, or needing anything of the host. */
export function isIntegration(path: string): boolean {
  return path.startsWith(join('test', 'integration') + sep) || needsOf(path).length > 0;
}

function numberFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

function main(argv: string[]): void {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const passThrough = dash < 0 ? [] : argv.slice(dash + 1);
  const [first, ...rest] = own;
  const selections = ['all', 'unit', 'integration'];
  const selection = first !== undefined && selections.includes(first) ? first : 'all';
  const filters = first !== undefined && selections.includes(first) ? rest : own;

  let files = findTestFiles(join(root, 'test'));
  if (selection === 'unit') files = files.filter((f) => !isIntegration(f));
  if (selection === 'integration') files = files.filter((f) => isIntegration(f));
  if (filters.length > 0) files = files.filter((f) => filters.some((filter) => f.includes(filter)));
  if (files.length === 0) {
    process.stderr.write(`run-tests: no test files for ${selection}${filters.length > 0 ? ` matching ${filters.join(' ')}` : ''}\n`);
    process.exit(1);
  }

  const concurrency = numberFromEnv('DOBBY_TEST_CONCURRENCY', 2);
  const testTimeout = numberFromEnv('DOBBY_TEST_TIMEOUT_MS', 120_000);
  const totalTimeout = numberFromEnv('DOBBY_TEST_TOTAL_TIMEOUT_MS', 18 * 60_000);
  const args = [
    '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, `--test-timeout=${testTimeout}`,
    ...passThrough, ...files,
  ];
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS']; // makes every Node start 2.5x slower
  process.stdout.write(`run-tests: ${files.length} file(s), ${selection}, concurrency ${concurrency}, ${testTimeout} ms per test\n`);
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: 'inherit', detached: true });
  const watchdog = setTimeout(() => {
    process.stderr.write(`run-tests: the run took over ${totalTimeout} ms: killing it\n`);
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, totalTimeout);
  const forward = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      child.kill(signal);
    }
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => {
    clearTimeout(watchdog);
    process.exit(code ?? (signal !== null ? 1 : 0));
  });
}

if (import.meta.main) main(process.argv.slice(2));
