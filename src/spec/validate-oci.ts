// validateOciConfig: checks a config against the official OCI runtime-spec JSON schema that Debian ships.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type AjvModule from 'ajv-draft-04';
import type { ErrorObject, ValidateFunction } from 'ajv-draft-04';

export const OCI_SCHEMA_DIR = '/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema';
export const OCI_SCHEMA_PACKAGE = 'golang-github-opencontainers-specs-dev';

/**
 * Loaded on first use, so that importing src/spec never fails where ajv is not installed: the daemon then gets a
 * clear message from validateOciConfig instead. It is CommonJS (module.exports = Ajv, plus .default).
 */
function loadAjv(): typeof AjvModule.default | string {
  try {
    return (createRequire(import.meta.url)('ajv-draft-04') as typeof AjvModule).default;
  } catch {
    return 'the JSON schema validator is not installed (npm packages ajv and ajv-draft-04); run npm ci';
  }
}

/** The schema's relative `$ref`s ("defs.json#/...") resolve against this made-up base. */
const BASE = 'https://opencontainers.org/runtime-spec/schema/';

const cache = new Map<string, ValidateFunction | string>();

/** Compiles config-schema.json with every config-*.json and defs*.json beside it (its $refs reach all of them). */
function compile(dir: string): ValidateFunction | string {
  const main = join(dir, 'config-schema.json');
  if (!existsSync(main)) {
    return `the OCI runtime-spec JSON schema is missing (${main}); install it: apt-get install ${OCI_SCHEMA_PACKAGE}`;
  }
  const Ajv = loadAjv();
  if (typeof Ajv === 'string') return Ajv;
  try {
    const ajv = new Ajv({ allErrors: true, strict: false });
    for (const name of readdirSync(dir)) {
      if (!/^(config-.*|defs.*)\.json$/.test(name) || name === 'config-schema.json') continue;
      const schema = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
      ajv.addSchema({ ...schema, id: BASE + name });
    }
    const root = JSON.parse(readFileSync(main, 'utf8')) as Record<string, unknown>;
    return ajv.compile({ ...root, id: BASE + 'config-schema.json' });
  } catch (err) {
    return `the OCI runtime-spec JSON schema in ${dir} cannot be used (${err instanceof Error ? err.message : String(err)}); ` +
      `reinstall it: apt-get install --reinstall ${OCI_SCHEMA_PACKAGE}`;
  }
}

function describe(e: ErrorObject): string {
  const where = e.instancePath === '' ? '/' : e.instancePath;
  const allowed = e.keyword === 'enum' ? ` (${(e.params as { allowedValues?: unknown[] }).allowedValues?.map((v) => JSON.stringify(v)).join(', ')})` : '';
  return `${where}: ${e.message ?? e.keyword}${allowed}`;
}

/** Problems with `config` as messages (`/process/user/uid: must be integer`); empty when it is valid. */
export function validateOciConfig(config: unknown, schemaDir: string = OCI_SCHEMA_DIR): string[] {
  let validate = cache.get(schemaDir);
  if (validate === undefined) {
    validate = compile(schemaDir);
    // A missing schema may be installed while the daemon runs: only cache success.
    if (typeof validate !== 'string') cache.set(schemaDir, validate);
  }
  if (typeof validate === 'string') return [validate];
  if (validate(config)) return [];
  return (validate.errors ?? []).map(describe);
}
