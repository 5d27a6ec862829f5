// The release's OCI validator (ajv standalone code, generated at build time) judges configs as the run-time
// compiled one does: the same schema, the same verdicts and the same errors.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import type { ValidateFunction } from 'ajv-draft-04';
import { ociValidatorModule } from '../../scripts/build/oci-validator.ts';
import { compileOciValidator } from '../../src/spec/oci-schema.ts';
import { convert, corpusFiles, corpusText } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'dobby-oci-validator-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function standalone(): Promise<ValidateFunction> {
  const file = join(dir, 'oci-validator.mjs');
  writeFileSync(file, ociValidatorModule());
  const mod = (await import(pathToFileURL(file).href)) as { loadBuiltOciValidator: () => ValidateFunction };
  return mod.loadBuiltOciValidator();
}

function verdict(validate: ValidateFunction, config: unknown): string[] {
  return validate(config) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.keyword} ${e.message ?? ''}`);
}

/** Configs the schema rejects, each in a different way. */
function broken(config: Record<string, any>): Record<string, any>[] {
  const out: Record<string, any>[] = [];
  const mutate = (f: (c: Record<string, any>) => void): void => {
    const c = structuredClone(config);
    f(c);
    out.push(c);
  };
  mutate((c) => delete c['ociVersion']);
  mutate((c) => (c['process'].user.uid = -1));
  mutate((c) => c['linux'].namespaces.push({ type: 'bogus' }));
  mutate((c) => (c['mounts'][0].destination = 7));
  mutate((c) => (c['process'].rlimits = [{ type: 'RLIMIT_NOFILE', hard: 'many' }]));
  mutate((c) => (c['linux'].resources = { memory: { limit: '1G' } }));
  return out;
}

test('the standalone validator agrees with the run-time compiled schema on every corpus config, valid and broken', async () => {
  const built = await standalone();
  const compiled = compileOciValidator();
  assert.notEqual(typeof compiled, 'string', String(compiled));
  const runtime = compiled as ValidateFunction;
  let checked = 0;
  for (const name of corpusFiles()) {
    let config: Record<string, any>;
    try {
      config = convert(corpusText(name)).config as unknown as Record<string, any>;
    } catch {
      continue; // a corpus file that is meant not to convert
    }
    assert.deepEqual(verdict(built, config), [], name);
    for (const bad of broken(config)) {
      const expected = verdict(runtime, bad);
      assert.ok(expected.length > 0, `${name}: the mutation is invalid`);
      assert.deepEqual(verdict(built, bad), expected, name);
      checked++;
    }
  }
  assert.ok(checked >= 6, `broken configs checked: ${checked}`);
  assert.deepEqual(verdict(built, null), verdict(runtime, null));
});

test('the generated module compiles nothing at load: ajv and the schema files are not needed to use it', () => {
  const source = ociValidatorModule();
  assert.doesNotMatch(source, /require\(["']ajv/);
  assert.doesNotMatch(source, /\/usr\/share\/gocode[^\n]*readFile/);
  assert.match(source, /export function loadBuiltOciValidator\(\)/);
});
