// The official OCI runtime-spec JSON schema (Debian's copy), compiled with ajv: at run time in a checkout,
// or into standalone code at build time (scripts/build/oci-validator.ts), so a release needs neither.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type AjvModule from 'ajv-draft-04';
import type { ValidateFunction } from 'ajv-draft-04';

export const OCI_SCHEMA_DIR = '/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema';
export const OCI_SCHEMA_PACKAGE = 'golang-github-opencontainers-specs-dev';

/** The schema's relative `$ref`s ("defs.json#/...") resolve against this made-up base. */
const BASE = 'https://opencontainers.org/runtime-spec/schema/';
export const OCI_CONFIG_SCHEMA_ID = `${BASE}config-schema.json`;

export type Ajv = InstanceType<typeof AjvModule.default>;

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

/**
 * An ajv holding config-schema.json (as OCI_CONFIG_SCHEMA_ID) with every config-*.json and defs*.json beside it
 * (its $refs reach all of them); a message a user can act on when the schema or ajv is missing.
 * `standalone`: keep the generated source, for ajv's standalone code generation.
 */
export function ociSchemaAjv(dir: string = OCI_SCHEMA_DIR, standalone = false): Ajv | string {
  const main = join(dir, 'config-schema.json');
  if (!existsSync(main)) {
    return `the OCI runtime-spec JSON schema is missing (${main}); install it: apt-get install ${OCI_SCHEMA_PACKAGE}`;
  }
  const Ajv = loadAjv();
  if (typeof Ajv === 'string') return Ajv;
  try {
    const ajv = new Ajv({ allErrors: true, strict: false, ...(standalone ? { code: { source: true } } : {}) });
    for (const name of readdirSync(dir)) {
      if (!/^(config-.*|defs.*)\.json$/.test(name) || name === 'config-schema.json') continue;
      const schema = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
      ajv.addSchema({ ...schema, id: BASE + name });
    }
    const root = JSON.parse(readFileSync(main, 'utf8')) as Record<string, unknown>;
    ajv.addSchema({ ...root, id: OCI_CONFIG_SCHEMA_ID });
    return ajv;
  } catch (err) {
    return `the OCI runtime-spec JSON schema in ${dir} cannot be used (${err instanceof Error ? err.message : String(err)}); ` +
      `reinstall it: apt-get install --reinstall ${OCI_SCHEMA_PACKAGE}`;
  }
}

/** The config validator compiled from the schema in `dir`, or why it cannot be. */
export function compileOciValidator(dir: string = OCI_SCHEMA_DIR): ValidateFunction | string {
  const ajv = ociSchemaAjv(dir);
  if (typeof ajv === 'string') return ajv;
  try {
    const validate = ajv.getSchema(OCI_CONFIG_SCHEMA_ID);
    if (validate === undefined) return `the OCI runtime-spec JSON schema in ${dir} has no config-schema.json`;
    return validate;
  } catch (err) {
    return `the OCI runtime-spec JSON schema in ${dir} cannot be used (${err instanceof Error ? err.message : String(err)}); ` +
      `reinstall it: apt-get install --reinstall ${OCI_SCHEMA_PACKAGE}`;
  }
}
