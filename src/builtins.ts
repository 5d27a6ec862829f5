// Node's heavier builtins, taken where they are used instead of imported: an ESM import of a
// builtin evaluates every export of it (node:util's lazy ones load worker_threads, its colours and
// diffing; node:crypto sets up OpenSSL; node:child_process its pipes and ttys), and an idle dobbyd
// that uses none of them paid for them all in resident memory (npm run bench, idle RSS).

export const childProcess = (): typeof import('node:child_process') => process.getBuiltinModule('node:child_process');
export const crypto = (): typeof import('node:crypto') => process.getBuiltinModule('node:crypto');
export const dgram = (): typeof import('node:dgram') => process.getBuiltinModule('node:dgram');
export const util = (): typeof import('node:util') => process.getBuiltinModule('node:util');
