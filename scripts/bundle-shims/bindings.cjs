// `bindings` for usocket inside a release bundle: the addon sits in native/ beside the bundle (scripts/build/release.ts
// puts it there); the real package finds it by walking up from its own file, which a bundle does not have.
'use strict';
// A name in a variable: esbuild leaves this require to Node, which resolves it against the bundle's own path.
const dir = './native/';
module.exports = (name) => require(dir + String(name).replace(/\.node$/, '') + '.node');
