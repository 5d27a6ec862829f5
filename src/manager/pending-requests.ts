// Pairs the replies the machines emit with the promises of the calls that asked for them.

import { DobbyError, toDobbyError } from '../errors.ts';

export type RequestResult = { readonly ok: true; readonly value?: number } | { readonly ok: false; readonly error: DobbyError };

interface Pending {
  resolve(value: number | undefined): void;
  reject(error: DobbyError): void;
}

export class PendingRequests {
  readonly #pending = new Map<string, Pending>();
  // A counter, not randomUUID: ids only pair replies with this manager's requests, and node:crypto
  // would cost an idle dobbyd ~0.9 MiB (it is otherwise loaded only when first needed).
  #last = 0;

  /** Sends a request under a fresh id; resolves or rejects with its reply. */
  open(send: (requestId: string) => void): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      const requestId = `r${++this.#last}`;
      this.#pending.set(requestId, { resolve, reject });
      try {
        send(requestId);
      } catch (err) {
        this.#pending.delete(requestId);
        reject(toDobbyError(err));
      }
    });
  }

  /** Answers a request; replies nobody waits for (a restart's start, the shutdown's stops) are dropped. */
  settle(requestId: string, result: RequestResult): void {
    const pending = this.#pending.get(requestId);
    if (pending === undefined) return;
    this.#pending.delete(requestId);
    if (result.ok) pending.resolve(result.value);
    else pending.reject(result.error);
  }

  rejectAll(error: DobbyError): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
