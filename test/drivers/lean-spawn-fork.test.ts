// The fallback of leanSpawn (Node's spawn, for a kernel without pidfd or a glibc the addon does not
// load with) must behave as posix_spawn does: every test of lean-spawn.test.ts, run over it.

process.env['DOBBY_SPAWN'] = 'fork';
await import('./lean-spawn.test.ts');
