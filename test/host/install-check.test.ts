// installProblems: the init, Dobby's init path and the bus policy, with fixes that name this install's own files.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { installProblems } from '../../src/host/install-check.ts';
import { installLayout, releaseLayout } from '../../src/install-layout.ts';

test('a release tree missing its parts: fixes name the tree\'s files', () => {
  const layout = releaseLayout('/usr/lib/dobby-ts');
  assert.equal(layout.containerInit, '/usr/lib/dobby-ts/libexec/DobbyInit');
  const problems = installProblems(layout, { systemBus: true, exists: () => false, isExecutable: () => false });
  const byCode = Object.fromEntries(problems.map((p) => [p.code, p]));
  assert.deepEqual(Object.keys(byCode).sort(), ['dbus-policy-missing', 'dobbyinit-missing', 'init-missing']);
  assert.equal(byCode['init-missing']!.fatal, true);
  assert.match(byCode['init-missing']!.what, /\/usr\/lib\/dobby-ts\/libexec\/DobbyInit/);
  assert.equal(byCode['dobbyinit-missing']!.fix, 'install -D -m 0755 /usr/lib/dobby-ts/libexec/DobbyInit /usr/libexec/DobbyInit');
  assert.match(byCode['dbus-policy-missing']!.fix, /^install -m 0644 \/usr\/lib\/dobby-ts\/etc\/dbus-1\/system.d\/org.rdk.dobby.conf /);
  assert.equal(byCode['dbus-policy-missing']!.fatal, false);
});

test('a private bus needs no policy; a checkout runs the host\'s tini', () => {
  const layout = installLayout();
  assert.equal(layout.kind, 'checkout');
  assert.equal(layout.containerInit, '/usr/bin/tini-static');
  assert.deepEqual(installProblems(layout, { systemBus: false, exists: () => true, isExecutable: () => true }), []);
  const policy = installProblems(layout, { systemBus: true, exists: (p) => !p.endsWith('org.rdk.dobby.conf'), isExecutable: () => true });
  assert.deepEqual(policy.map((p) => p.code), ['dbus-policy-missing']);
  assert.match(policy[0]!.fix, new RegExp(`^install -m 0644 ${layout.root}/etc/dbus-1/system.d/org.rdk.dobby.conf `));
});
