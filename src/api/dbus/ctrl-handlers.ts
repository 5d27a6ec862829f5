// org.rdk.dobby.ctrl1: container control over the manager, answering Dobby's failure values on any error.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DobbyError, toDobbyError } from '../../errors.ts';
import type { ContainerSummary } from '../../manager-types.ts';
import type { HandlerDeps } from './deps.ts';
import type { Handler } from './dispatcher.ts';
import { parseExec } from './exec-options.ts';
import { infoText } from './info.ts';
import { startHandlers } from './start-handlers.ts';

export function ctrlHandlers(deps: HandlerDeps): Record<string, Handler> {
  const { manager, logger } = deps;
  const starts = startHandlers(deps);

  /** The container behind a descriptor, or undefined (logged) when there is none. */
  const known = (descriptor: number, method: string): ContainerSummary | undefined => {
    const summary = manager.get(descriptor);
    if (summary === undefined) logger.warn({ descriptor, method }, `${method}: no container has descriptor ${descriptor}`);
    return summary;
  };

  /** Runs an action on a known container: [true] when it resolves, [false] (logged) otherwise. */
  const act = async (descriptor: number, method: string, action: (summary: ContainerSummary) => Promise<unknown>): Promise<readonly unknown[]> => {
    const summary = known(descriptor, method);
    if (summary === undefined) return [false];
    try {
      await action(summary);
      return [true];
    } catch (err) {
      const e = toDobbyError(err, 'INTERNAL', summary.id);
      logger.warn({ err: e, code: e.code, descriptor, containerId: summary.id, method }, `${method} of '${summary.id}' failed: ${e.message}`);
      return [false];
    }
  };

  const running = (summary: ContainerSummary, what: string): number => {
    if (summary.phase !== 'running') {
      throw new DobbyError('ILLEGAL_STATE', `${what} needs a running container; '${summary.id}' is ${summary.phase}`, { containerId: summary.id });
    }
    if (summary.pid === null) throw new DobbyError('ILLEGAL_STATE', `${what}: the process of '${summary.id}' is not known`, { containerId: summary.id });
    return summary.pid;
  };

  return {
    Start: starts.start,
    StartFromSpec: starts.spec,
    StartFromBundle: starts.bundle,
    Stop: ([cd, force]) => act(cd as number, 'Stop', () => manager.stop(cd as number, force as boolean)),
    Pause: ([cd]) => act(cd as number, 'Pause', () => manager.pause(cd as number)),
    Resume: ([cd]) => act(cd as number, 'Resume', () => manager.resume(cd as number)),
    Hibernate: ([cd, options]) => act(cd as number, 'Hibernate', async () => {
      throw new DobbyError('ILLEGAL_STATE', `hibernation (memcr) is not supported by dobby-ts; options '${String(options)}' ignored`);
    }),
    Wakeup: ([cd]) => act(cd as number, 'Wakeup', async () => {
      throw new DobbyError('ILLEGAL_STATE', 'the container is not hibernated: dobby-ts does not support hibernation (memcr)');
    }),
    Mount: ([cd, source, destination, flags, data]) => act(cd as number, 'Mount', async (summary) => {
      const { ignoredFlags } = await deps.mounter.mount({
        pid: running(summary, 'Mount'), source: source as string, destination: destination as string, flags: flags as string[], data: data as string,
      });
      if (ignoredFlags.length > 0) logger.error({ containerId: summary.id, ignoredFlags }, `Mount: ignored unknown mount flags ${ignoredFlags.join(', ')}`);
    }),
    Unmount: ([cd, destination]) => act(cd as number, 'Unmount', (summary) =>
      deps.mounter.unmount({ pid: running(summary, 'Unmount'), destination: destination as string })),
    Annotate: ([cd, key, value]) => [manager.annotate(cd as number, key as string, value as string)],
    RemoveAnnotation: ([cd, key]) => [manager.removeAnnotation(cd as number, key as string)],
    Exec: ([cd, options, command]) => act(cd as number, 'Exec', async () => {
      const parsed = parseExec(options as string, command as string);
      if (!parsed.ok) throw new DobbyError('INVALID_ARGUMENT', parsed.reason);
      return manager.exec(cd as number, parsed.request);
    }),
    GetState: ([cd]) => [manager.get(cd as number)?.wireState ?? 0],
    GetInfo: async ([cd]) => {
      const summary = known(cd as number, 'GetInfo');
      if (summary === undefined) return [''];
      const stats = await deps.readStats(summary.pid);
      // The timestamp goes with the counters, as Dobby takes it right after reading them.
      return [infoText(summary, stats, manager.annotations(summary.descriptor), process.hrtime.bigint())];
    },
    List: () => {
      const all = [...manager.list()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return [all.map((c) => c.descriptor), all.map((c) => c.id)];
    },
  };
}

/** The OCI config a container runs with: `<bundle>/config.json` as it is on disk; "" when unknown. */
export async function ociConfigOf(summary: ContainerSummary | undefined): Promise<string> {
  if (summary === undefined || summary.bundle === '') return '';
  // The config the container runs with: its launch config when this start changed anything.
  const launch = summary.launchConfig === undefined ? null : await readFile(summary.launchConfig, 'utf8').catch(() => null);
  return launch ?? readFile(join(summary.bundle, 'config.json'), 'utf8').catch(() => '');
}
