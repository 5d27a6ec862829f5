// The teardown of a container, one sequence for every path out of a started one (an exit, a failed
// or cancelled start): postStop hooks, preDestruction hooks, then the runtime/monitor teardown.
// After an exit whose plugins all say their teardown hooks need nothing of the runtime's container
// (or have none), the runtime deletes it while those hooks run: a nat container's stop waited for
// its rules to go (two nf_tables commits, 20-40 ms) and only then for `crun delete`.

import { hookInput, ownedBundleOf } from './container-setup.ts';
import type { ContainerContext } from './container-types.ts';

interface Args {
  readonly context: ContainerContext;
}

/** postStop, then preDestruction, then `next`; a hook failure is logged by the hook actors and teardown goes on. */
function hookStates(next: string) {
  return {
    postStopping: {
      // A plugin set without postStop hooks: on at once (the actor made on entry never starts).
      always: { guard: { type: 'nothingAt' as const, params: { point: 'postStop' as const } }, target: 'preDestructing' },
      invoke: {
        src: 'postStopHooks' as const,
        input: ({ context }: Args) => hookInput(context, 'postStop'),
        onDone: { target: 'preDestructing', actions: 'recordHooks' as const },
        onError: { target: 'preDestructing' },
      },
    },
    preDestructing: {
      always: { guard: { type: 'nothingAt' as const, params: { point: 'preDestruction' as const } }, target: next },
      invoke: {
        src: 'preDestructionHooks' as const,
        input: ({ context }: Args) => hookInput(context, 'preDestruction'),
        onDone: { target: next, actions: 'recordHooks' as const },
        onError: { target: next },
      },
    },
  };
}

/**
 * The three teardown states, nested in the state that owns them (`exited` or `failing`). `force`
 * kills what is left before deleting (a start that failed may have left processes); `finish` runs
 * as the container goes.
 */
export function teardownStates(options: { readonly force: boolean; readonly finish?: 'replyStartFailed' }) {
  const finish = options.finish === undefined ? [] : [options.finish];
  return {
    ...hookStates('tearingDown'),
    tearingDown: {
      invoke: {
        src: 'teardown' as const,
        input: ({ context }: Args) => ({ id: context.id, force: options.force, ownedBundle: ownedBundleOf(context), runtimeDeleted: false }),
        // Teardown logs its own failures; the container is gone either way.
        onDone: { target: '#container.stopped', actions: finish },
        onError: { target: '#container.stopped', actions: finish },
      },
    },
  };
}

/**
 * After an exit (nothing left to kill): the hooks in one region, the runtime's delete in the other,
 * then the rest of the teardown (monitor, console, launch config, bundle, record).
 */
export function teardownBesideRuntimeStates() {
  return {
    besideRuntime: {
      type: 'parallel' as const,
      states: {
        hooks: {
          initial: 'postStopping',
          states: { ...hookStates('hooksDone'), hooksDone: { type: 'final' as const } },
        },
        runtime: {
          initial: 'deleting',
          states: {
            deleting: {
              invoke: {
                src: 'deleteFromRuntime' as const,
                input: ({ context }: Args) => ({ id: context.id, force: false }),
                // It logs its own failures; the rest of the teardown goes on either way.
                onDone: { target: 'deleted' },
                onError: { target: 'deleted' },
              },
            },
            deleted: { type: 'final' as const },
          },
        },
      },
      onDone: { target: 'tearingDownRest' },
    },
    tearingDownRest: {
      invoke: {
        src: 'teardown' as const,
        input: ({ context }: Args) => ({ id: context.id, force: false, ownedBundle: ownedBundleOf(context), runtimeDeleted: true }),
        onDone: { target: '#container.stopped' },
        onError: { target: '#container.stopped' },
      },
    },
  };
}
