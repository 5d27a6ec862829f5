// An in-memory multicast router (smcroute) for property tests: blocks by container, faults on demand.

import { DobbyError } from '../../errors.ts';
import type { MulticastRouter } from './smcroute.ts';

export class FakeMulticastRouter implements MulticastRouter {
  readonly blocks = new Map<string, readonly string[]>();
  /** Return true to make that call fail (a set-up fails after writing, as a failed reload does). */
  failWhen: ((what: 'check' | 'set' | 'remove', containerId: string) => boolean) | null = null;
  routes = true;

  async check(containerId: string): Promise<void> {
    if (this.failWhen?.('check', containerId) === true) throw new DobbyError('HOST_UNSUITABLE', 'injected fault: smcrouted is not running', { containerId });
  }

  kernelRoutes(_family: 4 | 6): boolean {
    return this.routes;
  }

  async hasBlock(containerId: string): Promise<boolean> {
    return this.blocks.has(containerId);
  }

  async setBlock(containerId: string, lines: readonly string[]): Promise<void> {
    this.blocks.set(containerId, [...lines]);
    if (this.failWhen?.('set', containerId) === true) throw new DobbyError('HOST_UNSUITABLE', 'injected fault: smcroutectl restart failed', { containerId });
  }

  async removeBlock(containerId: string): Promise<void> {
    if (this.failWhen?.('remove', containerId) === true) throw new DobbyError('HOST_UNSUITABLE', 'injected fault: cannot write the smcroute config', { containerId });
    this.blocks.delete(containerId);
  }
}
