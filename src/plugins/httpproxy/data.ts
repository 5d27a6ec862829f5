// The httpproxy plugin's data (Dobby's rdkPlugins.httpproxy.data): the proxy the container's
// `http_proxy` names, the hosts it skips (`no_proxy`) and an optional root CA of the proxy.

import { crypto } from '../../builtins.ts';
import { readDataObject, type Parsed } from '../data-reader.ts';

export const HTTPPROXY_PLUGIN = 'httpproxy';

/** Dobby's bridge address, put first in no_proxy by `ignoreProxyOnBridge` when no networking plugin says otherwise. */
export const DOBBY_BRIDGE_ADDRESS = '100.64.11.1';

export interface HttpProxyData {
  readonly host: string;
  readonly port: number;
  /** `ignoreProxy`'s no_proxy entries, in Dobby's order. */
  readonly noProxy: readonly string[];
  /** `ignoreProxyOnBridge`: the bridge address goes first in no_proxy. */
  readonly noProxyOnBridge: boolean;
  /** PEM text of the proxy's root CA, put in front of the host's CA bundle; null: none. */
  readonly rootCaCert: string | null;
}

/** A host name, IPv4 or bracketed IPv6 address: what fits in a URL's authority without more quoting. */
const HOST = /^(?:[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]+\])$/;
/** A no_proxy entry (a name, a domain suffix `.example.com`, an address or a CIDR): no commas, no spaces. */
const NO_PROXY_ENTRY = /^[^\s,]+$/;

export function parseHttpProxyData(data: unknown): Parsed<HttpProxyData> {
  const example = 'give {"proxy": {"host": "proxy.example", "port": 3128}}';
  const { root, warnings } = readDataObject(HTTPPROXY_PLUGIN, data, ['proxy', 'ignoreProxy', 'ignoreProxyOnBridge', 'proxyRootCACert'], example);
  const proxy = root.child('proxy', ['host', 'port'], `${example} (Dobby's daemon crashes without it)`);
  const host = proxy.string('host', null, 'the proxy\'s host name or address');
  if (!HOST.test(host)) throw proxy.error('host', `is ${JSON.stringify(host)}; it must be a host name or an address (IPv6 in brackets)`);
  const port = proxy.int32('port', 0, { min: 0, max: 65535, what: 'the proxy\'s TCP port' });
  if (port === 0) throw proxy.error('port', 'is missing or 0; give the proxy\'s TCP port, 1 to 65535 (Dobby fails the hook without one)');
  const ignore = root.strings('ignoreProxy');
  ignore.forEach((entry, i) => {
    if (!NO_PROXY_ENTRY.test(entry)) throw root.error(`ignoreProxy[${i}]`, `is ${JSON.stringify(entry)}; it must be a host, domain or address without commas or spaces`);
  });
  const noProxyOnBridge = root.bool('ignoreProxyOnBridge', false);
  let rootCaCert: string | null = null;
  if (root.has('proxyRootCACert')) {
    const pem = root.string('proxyRootCACert', null, 'the PEM text of the proxy\'s root CA');
    try {
      if (!new (crypto().X509Certificate)(pem).ca) throw new Error('it is not a CA certificate (basicConstraints CA:FALSE)');
    } catch (err) {
      throw root.error('proxyRootCACert', `is not a PEM CA certificate (${(err as Error).message}); give the "-----BEGIN CERTIFICATE-----" text of the proxy's root CA`);
    }
    rootCaCert = pem;
  }
  return { data: { host, port, noProxy: ignore, noProxyOnBridge, rootCaCert }, warnings };
}
