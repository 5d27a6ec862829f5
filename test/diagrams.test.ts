// Tests the diagram generators on a small machine, and that diagrams/ matches the machines in src/machines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { and, fromPromise, not, setup, stateIn } from 'xstate';
import { guardLabel, machineModel, renderMachine, toDot, toMermaid } from '../src/tools/diagrams/index.ts';
import { MACHINES, diagramPaths, loadMachine, renderEntry } from '../scripts/diagrams.ts';

function sampleMachine() {
  return setup({
    types: {} as { events: { type: 'START' } | { type: 'STOP' } | { type: 'PAUSE' } | { type: 'RESUME' } | { type: 'PING' } },
    actors: { runCreate: fromPromise(async () => 1), watchExit: fromPromise(async () => 1) },
    guards: { hasBundle: () => true, isOom: () => false },
    actions: { notifyStarted: () => {}, pong: () => {} },
    delays: { KILL_TIMEOUT: 500 },
  }).createMachine({
    id: 'sample',
    initial: 'idle',
    states: {
      idle: {
        on: {
          START: [{ target: 'creating', guard: 'hasBundle' }, { target: 'done', guard: and(['isOom', not('hasBundle')]) }],
          PING: { actions: 'pong' },
        },
      },
      creating: { invoke: { src: 'runCreate', id: 'create', onDone: 'running', onError: 'done' } },
      running: {
        type: 'parallel',
        entry: 'notifyStarted',
        invoke: { src: 'watchExit', onDone: 'done' },
        on: { STOP: 'stopping' },
        states: {
          activity: {
            initial: 'active',
            states: {
              active: { on: { PAUSE: 'paused' } },
              paused: { on: { RESUME: 'active' } },
              hist: { type: 'history', history: 'deep' },
            },
          },
          health: { initial: 'ok', states: { ok: { always: { target: 'bad', guard: stateIn({ running: { activity: 'paused' } }) } }, bad: {} } },
        },
      },
      stopping: { after: { KILL_TIMEOUT: 'done', 1000: { target: 'done', guard: 'isOom' } } },
      done: { type: 'final' },
    },
  });
}

test('guard labels: names, combinators, stateIn, inline', () => {
  assert.equal(guardLabel('hasBundle'), 'hasBundle');
  assert.equal(guardLabel({ type: 'isOom', params: { x: 1 } }), 'isOom');
  assert.equal(guardLabel(and(['a', not('b')])), 'a && !b');
  assert.equal(guardLabel(not(and(['a', 'b']))), '!(a && b)');
  assert.equal(guardLabel(stateIn('running')), 'in(running)');
  assert.equal(guardLabel(stateIn({ a: { b: 'c' }, d: 'e' })), 'in(a.b.c + d.e)');
  assert.equal(guardLabel(() => true), 'inline');
});

test('the model has ids, initial states, invokes, internal events and labelled edges', () => {
  const model = machineModel('sample', sampleMachine());
  assert.deepEqual(model.root.children.map((s) => [s.id, s.type]), [
    ['idle', 'atomic'], ['creating', 'atomic'], ['running', 'parallel'], ['stopping', 'atomic'], ['done', 'final'],
  ]);
  assert.equal(model.root.initial, 'idle');
  assert.deepEqual(model.byId.get('running')?.invokes, ['watchExit']);
  assert.deepEqual(model.byId.get('running')?.entry, ['notifyStarted']);
  assert.deepEqual(model.byId.get('idle')?.internal, ['PING / pong']);
  assert.equal(model.byId.get('running_activity_hist')?.history, 'deep');
  const labels = model.edges.map((e) => `${e.from} -> ${e.to} : ${e.label}`);
  assert.deepEqual(labels.filter((l) => l.startsWith('idle') || l.startsWith('creating') || l.startsWith('stopping')), [
    'idle -> creating : START [hasBundle]',
    'idle -> done : START [isOom && !hasBundle]',
    'creating -> running : onDone runCreate',
    'creating -> done : onError runCreate',
    'stopping -> done : after 1000ms [isOom]',
    'stopping -> done : after KILL_TIMEOUT',
  ]);
  assert.ok(labels.includes('running_health_ok -> running_health_bad : always [in(running.activity.paused)]'));
});

test('Mermaid: nested composites, parallel regions, notes, finals', () => {
  const text = toMermaid(machineModel('sample', sampleMachine()), 'test');
  const lines = text.split('\n');
  assert.equal(lines[1], 'stateDiagram-v2');
  for (const expected of [
    '  [*] --> idle',
    '  idle : handles PING / pong',
    '  creating : invoke runCreate',
    '  state "running · invoke watchExit · entry notifyStarted" as running',
    '  state running {',
    '    --',
    '      [*] --> running_activity_active',
    '      state "H*" as running_activity_hist',
    '  done --> [*]',
    '  idle --> creating : START [hasBundle]',
    '  running --> stopping : STOP',
    '      running_activity_active --> running_activity_paused : PAUSE',
  ]) {
    assert.ok(lines.includes(expected), `missing line ${JSON.stringify(expected)} in:\n${text}`);
  }
});

test('DOT: clusters for composites, lhead/ltail for edges at their borders', () => {
  const text = toDot(machineModel('sample', sampleMachine()), 'test');
  assert.match(text, /^\/\/ sample: generated from test by npm run diagrams/);
  assert.match(text, /subgraph "cluster_running" \{\n\s+label="running\\ninvoke watchExit\\nentry notifyStarted";\n\s+style="rounded,dashed";/);
  assert.match(text, /"creating" -> "running__start" \[label="onDone runCreate", lhead="cluster_running"\];/);
  assert.match(text, /"running__start" -> "stopping" \[label="STOP", ltail="cluster_running"\];/);
  assert.match(text, /"done" \[label="done", peripheries=2\];/);
});

test('DOT output is valid for Graphviz', { skip: spawnSync('dot', ['-V']).error !== undefined && 'graphviz not installed' }, () => {
  const r = spawnSync('dot', ['-Tsvg'], { input: toDot(machineModel('sample', sampleMachine()), 'test'), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'dot printed warnings');
  assert.match(r.stdout, /<svg/);
});

test('rendering is deterministic', () => {
  const a = renderMachine('sample', sampleMachine(), 'test');
  const b = renderMachine('sample', sampleMachine(), 'test');
  assert.deepEqual(a, b);
});

for (const entry of MACHINES) {
  test(`diagrams/${entry.name}.mmd and .dot are up to date with ${entry.module}`, async () => {
    const machine = await loadMachine(entry);
    assert.ok(machine !== undefined, `${entry.module} does not exist: remove its entry from MACHINES or add the module`);
    const rendered = renderEntry(entry, machine);
    const paths = diagramPaths(entry.name);
    for (const [ext, path, text] of [['mmd', paths.mmd, rendered.mermaid], ['dot', paths.dot, rendered.dot]] as const) {
      const file = `diagrams/${entry.name}.${ext}`;
      assert.ok(existsSync(path), `${file} is missing: run npm run diagrams`);
      assert.ok(readFileSync(path, 'utf8') === text, `${file} is out of date: run npm run diagrams`);
    }
  });
}
