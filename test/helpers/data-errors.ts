// A plugin data check's refusal: an INVALID_ARGUMENT DobbyError whose message names the field.

import assert from 'node:assert/strict';
import { DobbyError } from '../../src/errors.ts';

export function rejectsField(parse: () => unknown, field: RegExp): void {
  assert.throws(parse, (err: unknown) => {
    assert.ok(err instanceof DobbyError, String(err));
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, field);
    return true;
  });
}
