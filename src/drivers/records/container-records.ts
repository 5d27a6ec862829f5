// What dobbyd must remember about a container across its own restarts: the descriptor and bundle.
// The runtime and the monitor know everything else; this is the only state the daemon writes itself.

import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { inOwnDir } from '../own-dir.ts';
import { removeFile } from '../remove-file.ts';
import { readSmallText, replaceSmallFile } from '../small-file.ts';

export interface ContainerRecord {
  readonly id: string;
  readonly descriptor: number;
  readonly bundle: string;
  /** The daemon generated the bundle (from a spec): it goes with the container. */
  readonly ownedBundle?: boolean;
  /** A stop was asked for: a daemon that died during it leaves the next one to finish it. */
  readonly stop?: { readonly force: boolean };
}

export interface ContainerRecords {
  write(record: ContainerRecord): Promise<void>;
  remove(id: string): Promise<void>;
  list(): Promise<ContainerRecord[]>;
  get(id: string): Promise<ContainerRecord | null>;
}

/** Notes a stop in the container's record, if it has one (a forced stop is never weakened). */
export async function recordStop(records: ContainerRecords, id: string, force: boolean): Promise<void> {
  const record = await records.get(id);
  if (record === null) return;
  await records.write({ ...record, stop: { force: force || record.stop?.force === true } });
}

function isRecord(value: unknown): value is ContainerRecord {
  const v = value as Partial<ContainerRecord> | null;
  return (
    typeof v === 'object' && v !== null && typeof v.id === 'string' && typeof v.bundle === 'string' &&
    Number.isInteger(v.descriptor) && (v.descriptor as number) >= 1 && (v.descriptor as number) <= 1023
  );
}

/** One JSON file per container under `dir`, written atomically (temp file + rename). */
export class FileContainerRecords implements ContainerRecords {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async write(record: ContainerRecord): Promise<void> {
    const path = join(this.#dir, `${record.id}.json`);
    await inOwnDir(this.#dir, { mode: 0o700 }, async () => replaceSmallFile(path, JSON.stringify(record)));
  }

  async remove(id: string): Promise<void> {
    await removeFile(join(this.#dir, `${id}.json`));
  }

  /** Every readable record; a damaged file is skipped (the container is then adopted with a new descriptor). */
  async list(): Promise<ContainerRecord[]> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    // A daemon killed between a record's temp file and its rename leaves the temp file; only one
    // daemon holds the state dir, so another pid's is such a leftover (and was never the record).
    const ours = `.${process.pid}.tmp`;
    await Promise.all(names.filter((n) => n.endsWith('.tmp') && !n.endsWith(ours)).map((n) => rm(join(this.#dir, n), { force: true })));
    const records: ContainerRecord[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const record = await this.#read(name);
      if (record !== null) records.push(record);
    }
    return records;
  }

  async get(id: string): Promise<ContainerRecord | null> {
    return this.#read(`${id}.json`);
  }

  async #read(name: string): Promise<ContainerRecord | null> {
    try {
      const parsed: unknown = JSON.parse(readSmallText(join(this.#dir, name)) ?? 'null');
      return isRecord(parsed) && `${parsed.id}.json` === name ? parsed : null;
    } catch {
      // missing, unreadable or half-written
      return null;
    }
  }
}

/** Records kept in memory, for tests over the fake runtime. */
export class MemoryContainerRecords implements ContainerRecords {
  readonly #records = new Map<string, ContainerRecord>();

  async write(record: ContainerRecord): Promise<void> {
    this.#records.set(record.id, record);
  }

  async remove(id: string): Promise<void> {
    this.#records.delete(id);
  }

  async list(): Promise<ContainerRecord[]> {
    return [...this.#records.values()];
  }

  async get(id: string): Promise<ContainerRecord | null> {
    return this.#records.get(id) ?? null;
  }
}
