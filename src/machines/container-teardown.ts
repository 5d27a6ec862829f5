// The teardown of a container, one sequence for every path out of a started one (an exit, a failed
// or cancelled start): postStop hooks, preDestruction hooks, then the runtime/monitor teardown.

import { hookInput, ownedBundleOf } from './container-setup.ts';
import type { ContainerContext } from './container-types.ts';

interface Args {
  readonly context: ContainerContext;
}

/**
 * The three teardown states, nested in the state that owns them (`exited` or `failing`). Hook
 * failures are logged by the hook actors and teardown goes on; `force` kills what is left before
 * deleting (a start that failed may have left processes); `finish` runs as the container goes.
 */
export function teardownStates(options: { readonly force: boolean; readonly finish?: 'replyStartFailed' }) {
  const finish = options.finish === undefined ? [] : [options.finish];
  return {
    postStopping: {
      invoke: {
        src: 'postStopHooks' as const,
        input: ({ context }: Args) => hookInput(context, 'postStop'),
        onDone: { target: 'preDestructing', actions: 'recordHooks' as const },
        onError: { target: 'preDestructing' },
      },
    },
    preDestructing: {
      invoke: {
        src: 'preDestructionHooks' as const,
        input: ({ context }: Args) => hookInput(context, 'preDestruction'),
        onDone: { target: 'tearingDown', actions: 'recordHooks' as const },
        onError: { target: 'tearingDown' },
      },
    },
    tearingDown: {
      invoke: {
        src: 'teardown' as const,
        input: ({ context }: Args) => ({ id: context.id, force: options.force, ownedBundle: ownedBundleOf(context) }),
        // Teardown logs its own failures; the container is gone either way.
        onDone: { target: '#container.stopped', actions: finish },
        onError: { target: '#container.stopped', actions: finish },
      },
    },
  };
}
