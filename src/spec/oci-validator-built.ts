// The OCI config validator compiled at build time: none in a checkout, where src/spec/oci-schema.ts compiles the
// schema at run time. The bundler (scripts/build/bundle.ts) puts ajv's standalone code in place of this module.

import type { ValidateFunction } from 'ajv-draft-04';

export const loadBuiltOciValidator: (() => ValidateFunction) | null = null;
