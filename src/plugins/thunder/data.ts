// The thunder plugin's data (Dobby's rdkPlugins.thunder.data): a security token's source and whether
// the container is trusted with the SecurityAgent socket.

import { readDataObject, type Parsed } from '../data-reader.ts';

export const THUNDER_PLUGIN = 'thunder';

export interface ThunderData {
  readonly bearerUrl: string | null;
  readonly trusted: boolean;
}

export function parseThunderData(data: unknown): Parsed<ThunderData> {
  const { root, warnings } = readDataObject(THUNDER_PLUGIN, data, ['bearerUrl', 'trusted', 'connLimit'], 'give {} or {"trusted": true}');
  const bearerUrl = root.has('bearerUrl') ? root.string('bearerUrl', null, 'the URL a security token is asked for') : null;
  const trusted = root.bool('trusted', false);
  root.int32('connLimit', 32, { what: 'connections (Dobby reads it but applies no limit)' });
  return { data: { bearerUrl, trusted }, warnings };
}
