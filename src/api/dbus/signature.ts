// D-Bus type signatures parsed into trees; shared by the wire codec and the service's fd bookkeeping.

export interface SigNode {
  /** The type code: a basic code, `a`, `(`, `{` or `v`. */
  readonly code: string;
  /** Element type of `a`; fields of `(`; key and value of `{`. */
  readonly children: readonly SigNode[];
}

const BASIC = new Set(['y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 's', 'o', 'g', 'h']);

/** Parses a signature of zero or more complete types; throws on a malformed one. */
export function parseSignature(signature: string): SigNode[] {
  let pos = 0;
  const one = (): SigNode => {
    const c = signature[pos++];
    if (c === undefined) throw new Error(`signature '${signature}' ends early`);
    if (BASIC.has(c) || c === 'v') return { code: c, children: [] };
    if (c === 'a') return { code: 'a', children: [one()] };
    if (c === '(' || c === '{') {
      const close = c === '(' ? ')' : '}';
      const children: SigNode[] = [];
      while (signature[pos] !== close) {
        if (pos >= signature.length) throw new Error(`signature '${signature}' misses '${close}'`);
        children.push(one());
      }
      pos++;
      if (children.length === 0 || (c === '{' && children.length !== 2)) throw new Error(`bad container in signature '${signature}'`);
      return { code: c, children };
    }
    throw new Error(`unknown type code '${c}' in signature '${signature}'`);
  };
  const out: SigNode[] = [];
  while (pos < signature.length) out.push(one());
  return out;
}

export function signatureOf(node: SigNode): string {
  switch (node.code) {
    case 'a': return `a${signatureOf(node.children[0]!)}`;
    case '(': return `(${node.children.map(signatureOf).join('')})`;
    case '{': return `{${node.children.map(signatureOf).join('')}}`;
    default: return node.code;
  }
}

/**
 * Every unix fd number (`h`) in a message body, wherever it sits in the signature, so the
 * service can close the fds of every call (valid or not) once it has answered.
 */
export function fdsInBody(signature: string, body: readonly unknown[]): number[] {
  return fdValuesInBody(signature, body).filter(isFd);
}

const isFd = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0;

/** True when some `h` value is not a received fd (an index past the message's fds arrives as -1). */
export function hasInvalidFd(signature: string, body: readonly unknown[]): boolean {
  return signature.includes('h') && fdValuesInBody(signature, body).some((value) => !isFd(value));
}

/** Every `h` value in a body, as it arrived. */
function fdValuesInBody(signature: string, body: readonly unknown[]): unknown[] {
  const fds: unknown[] = [];
  const walk = (node: SigNode, value: unknown): void => {
    if (node.code === 'h') {
      fds.push(value);
    } else if (node.code === 'a' && Array.isArray(value)) {
      const child = node.children[0]!;
      if (child.code === '{') for (const entry of value) walkFields(child.children, entry);
      else for (const item of value) walk(child, item);
    } else if (node.code === 'a' && value !== null && typeof value === 'object' && node.children[0]!.code === '{') {
      // dbus-next hands dictionaries over as plain objects
      for (const item of Object.values(value)) walk(node.children[0]!.children[1]!, item);
    } else if ((node.code === '(' || node.code === '{') && Array.isArray(value)) {
      walkFields(node.children, value);
    } else if (node.code === 'v' && value !== null && typeof value === 'object' && 'signature' in value && 'value' in value) {
      const v = value as { signature: unknown; value: unknown };
      if (typeof v.signature === 'string') {
        try {
          const inner = parseSignature(v.signature);
          if (inner.length === 1) walk(inner[0]!, v.value);
        } catch {
          // a malformed variant signature cannot carry fds we could find
        }
      }
    }
  };
  const walkFields = (children: readonly SigNode[], value: unknown): void => {
    if (!Array.isArray(value)) return;
    children.forEach((child, i) => walk(child, value[i]));
  };
  let nodes: SigNode[];
  try {
    nodes = parseSignature(signature);
  } catch {
    return fds;
  }
  nodes.forEach((node, i) => walk(node, body[i]));
  return fds;
}
