// The ionmemory plugin's data (Dobby's rdkPlugins.ionmemory.data): a limit per ION heap and the
// limit of every other heap, in bytes (Dobby's uint64; absent defaultLimit means none).

import { readDataObject, UINT64_MAX, type Parsed } from '../data-reader.ts';

export interface IonMemoryData {
  /** For every heap `heaps` does not name; UINT64_MAX: no limit. */
  readonly defaultLimit: bigint;
  readonly heaps: readonly { readonly name: string; readonly limit: bigint }[];
}

const EXAMPLE = '{"name": "system", "limit": 8388608}';

export function parseIonMemoryData(input: unknown): Parsed<IonMemoryData> {
  const { root, warnings } = readDataObject('ionmemory', input, ['defaultLimit', 'heaps'], 'give {"defaultLimit": bytes, "heaps": [{"name": ..., "limit": bytes}]}');
  const defaultLimit = root.uint64('defaultLimit', UINT64_MAX, 'bytes of any heap not in heaps');
  const seen = new Set<string>();
  const heaps = root.objects('heaps', ['name', 'limit'], EXAMPLE).map((heap) => {
    const name = heap.string('name', null, 'the ION heap, as in the cgroup\'s ion.<name>.limit_in_bytes');
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw heap.error('name', `is ${JSON.stringify(name)}; it must be an ION heap name (letters, digits, _ and -)`);
    if (seen.has(name)) throw heap.error('name', `names heap '${name}' a second time; give each heap once`);
    seen.add(name);
    if (!heap.has('limit')) throw heap.error('limit', `is missing; give heap '${name}' a limit in bytes`);
    return { name, limit: heap.uint64('limit', UINT64_MAX, `bytes of heap '${name}'`) };
  });
  return { data: { defaultLimit, heaps }, warnings };
}
