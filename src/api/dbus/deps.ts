// What the D-Bus handlers work with: the manager, the signal emitter, the host services (interfaces
// from src/host-services.ts; daemon.ts gives the real drivers), and the daemon's admin hooks.

import type { Logger } from '../../log.ts';
import type { ContainerManager, StartRequest } from '../../manager-types.ts';
import type { ContainerMounter } from '../../host-services.ts';
import type { ContainerStats } from '../../host-services.ts';
import type { DobbySignals } from './signals.ts';

/** StartFromBundle's optional arguments; the manager applies them through the container's launch config. */
export type StartRequestExtras = Pick<StartRequest, 'command' | 'displaySocket' | 'env' | 'userId' | 'groupId'>;

export type BundleStartRequest = StartRequest & StartRequestExtras;

export interface SpecStartRequest {
  readonly id: string;
  /** Dobby spec JSON text. */
  readonly spec: string;
  readonly fds: readonly number[];
  readonly command?: readonly string[];
  readonly displaySocket?: string;
  readonly env?: readonly string[];
}

/** Dobby-spec support the manager will gain; each method is looked for at run time. */
export interface SpecSupport {
  startFromSpec(request: SpecStartRequest): Promise<number>;
  createBundle(id: string, spec: string): Promise<void>;
  /** The spec a container was started from (compact JSON), or undefined. */
  specOf(descriptor: number): string | undefined;
}

export interface AdminHooks {
  /** Called after Shutdown's reply is sent: stop the containers and exit. */
  onShutdown(): void;
  /** Dobby levels: 0 FATAL, 1 ERROR, 2 WARNING, 3 MILESTONE, 4 INFO, 5 DEBUG. Default: sets the logger's level. */
  onSetLogLevel?(level: number): boolean;
  /** 0 NULL, 1 SYSLOG, 2 ETHANLOG (fd = log pipe), 3 CONSOLE. Default: true for CONSOLE only. */
  onSetLogMethod?(method: number, fd: number | null): boolean;
  /** Default: true when something accepts connections at the address. */
  onSetAIDbusAddress?(privateBus: boolean, address: string): Promise<boolean>;
}

export interface HandlerDeps {
  readonly manager: ContainerManager & Partial<SpecSupport>;
  readonly logger: Logger;
  /** The daemon's root logger: SetLogLevel's default target. */
  readonly rootLogger: Logger;
  readonly signals: DobbySignals;
  readonly mounter: ContainerMounter;
  readonly readStats: (pid: number | null) => Promise<ContainerStats>;
  readonly admin: AdminHooks;
}
