// node:assert for the bundled CommonJS dependencies (dbus-next's marshaller, sonic-boom,
// thread-stream), which call assert(value, message) and assert.strictEqual only: node:assert loads
// its diff and error machinery when it loads (+2 MiB to a bare node; less in dobbyd, which shares
// some of it). A check that fails, and anything else asked of the module, is handed to node:assert
// itself (its AssertionError, its message).
'use strict';
let real;
const load = () => (real ??= process.getBuiltinModule('node:assert'));
function ok(value, message) {
  if (!value) load().ok(value, message);
}
function strictEqual(actual, expected, message) {
  if (!Object.is(actual, expected)) load().strictEqual(actual, expected, message);
}
module.exports = new Proxy(ok, {
  get(_target, key) {
    if (key === 'ok') return ok;
    if (key === 'strictEqual') return strictEqual;
    return load()[key];
  },
});
