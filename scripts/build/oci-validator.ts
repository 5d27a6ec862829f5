// Build step: the OCI config validator as ajv standalone code, compiled from the official runtime-spec schema, so a
// release needs neither ajv's compiler nor the schema. The module it makes replaces src/spec/oci-validator-built.ts.

import { createRequire } from 'node:module';
import { ociSchemaAjv, OCI_CONFIG_SCHEMA_ID, OCI_SCHEMA_DIR, type Ajv } from '../../src/spec/oci-schema.ts';

type StandaloneCode = (ajv: Ajv, refsOrFunc: Record<string, string>) => string;

/**
 * An ES module exporting `loadBuiltOciValidator()`. ajv's CommonJS output runs inside that function, on first use:
 * its schema literals (~190 KB of source) are never evaluated by a daemon that starts no spec container.
 * Throws with the reason when the schema (or ajv) is missing.
 */
export function ociValidatorModule(schemaDir: string = OCI_SCHEMA_DIR): string {
  const ajv = ociSchemaAjv(schemaDir, true);
  if (typeof ajv === 'string') throw new Error(ajv);
  const standalone = (createRequire(import.meta.url)('ajv/dist/standalone') as { default: StandaloneCode }).default;
  const code = standalone(ajv, { validate: OCI_CONFIG_SCHEMA_ID });
  return `// Generated from ${schemaDir} by scripts/build/oci-validator.ts.\n` +
    'let validate;\n' +
    'export function loadBuiltOciValidator() {\n' +
    '  if (validate !== undefined) return validate;\n' +
    '  const module = { exports: {} };\n' +
    `  (function (module, exports) {\n${code}\n  })(module, module.exports);\n` +
    '  validate = module.exports.validate;\n' +
    '  return validate;\n' +
    '}\n';
}
