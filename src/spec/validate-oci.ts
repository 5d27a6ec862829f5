// validateOciConfig: checks a config against the official OCI runtime-spec JSON schema (built in, or Debian's copy).

import type { ErrorObject, ValidateFunction } from 'ajv-draft-04';
import { compileOciValidator, OCI_SCHEMA_DIR } from './oci-schema.ts';
import { loadBuiltOciValidator } from './oci-validator-built.ts';

export { OCI_SCHEMA_DIR } from './oci-schema.ts';

const cache = new Map<string, ValidateFunction>();

/** The validator compiled into a bundle, else the one compiled from the schema in `schemaDir`. */
function validatorFor(schemaDir: string | undefined): ValidateFunction | string {
  if (schemaDir === undefined && loadBuiltOciValidator !== null) return loadBuiltOciValidator();
  const dir = schemaDir ?? OCI_SCHEMA_DIR;
  const cached = cache.get(dir);
  if (cached !== undefined) return cached;
  const validate = compileOciValidator(dir);
  // A missing schema may be installed while the daemon runs: only cache success.
  if (typeof validate !== 'string') cache.set(dir, validate);
  return validate;
}

function describe(e: ErrorObject): string {
  const where = e.instancePath === '' ? '/' : e.instancePath;
  const allowed = e.keyword === 'enum' ? ` (${(e.params as { allowedValues?: unknown[] }).allowedValues?.map((v) => JSON.stringify(v)).join(', ')})` : '';
  return `${where}: ${e.message ?? e.keyword}${allowed}`;
}

/**
 * Problems with `config` as messages (`/process/user/uid: must be integer`); empty when it is valid.
 * `schemaDir`: compile the schema found there instead of using the built-in validator.
 */
export function validateOciConfig(config: unknown, schemaDir?: string): string[] {
  const validate = validatorFor(schemaDir);
  if (typeof validate === 'string') return [validate];
  if (validate(config)) return [];
  return (validate.errors ?? []).map(describe);
}
