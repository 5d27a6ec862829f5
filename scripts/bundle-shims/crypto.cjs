// node:crypto for the bundled CommonJS dependencies (dbus-next's handshake requires it when it loads,
// for DBUS_COOKIE_SHA1 only), loaded on first use: node:crypto and OpenSSL's setup cost an idle
// dobbyd about 0.9 MiB resident, and dobbyd authenticates with EXTERNAL.
'use strict';
let crypto;
module.exports = new Proxy({}, {
  get(_target, key) {
    crypto ??= process.getBuiltinModule('node:crypto');
    return crypto[key];
  },
});
