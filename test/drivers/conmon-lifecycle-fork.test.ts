// conmon launches and the runtime's commands over leanSpawn's fallback (Node's spawn): every test of
// conmon-lifecycle.test.ts, run over it.
// needs: root crun conmon

process.env['DOBBY_SPAWN'] = 'fork';
await import('./conmon-lifecycle.test.ts');
