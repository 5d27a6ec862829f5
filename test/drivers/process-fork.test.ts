// run() over leanSpawn's fallback (Node's spawn): every test of process.test.ts, run over it.

process.env['DOBBY_SPAWN'] = 'fork';
await import('./process.test.ts');
