// node:worker_threads for pino, which reads isMainThread when it loads, and thread-stream, which
// takes Worker when it loads, for pino.transport() (dobbyd writes its logs itself and starts no
// transport): the module and its messaging cost a bare node 2 MiB (less in dobbyd, which shares
// some). The bundle runs on the main thread only (dobbyd starts no workers), so isMainThread is
// true without asking; Worker and anything else come from node:worker_threads on first use.
'use strict';
let real;
const load = () => (real ??= process.getBuiltinModule('node:worker_threads'));
function Worker(...args) {
  return new (load().Worker)(...args);
}
module.exports = new Proxy({}, {
  get(_target, key) {
    if (real === undefined && key === 'isMainThread') return true;
    if (key === 'Worker') return Worker;
    return load()[key];
  },
});
