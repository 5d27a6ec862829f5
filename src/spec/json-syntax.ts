// Where JSON.parse failed, as "line L, column C", without echoing the (maybe huge, maybe binary) input back.

function offsetFromMessage(message: string): number | null {
  const m = /position (\d+)/.exec(message);
  return m === null ? null : Number(m[1]);
}

function failsWithUnexpectedToken(text: string): boolean {
  try {
    JSON.parse(text);
    return false;
  } catch (err) {
    return err instanceof Error && err.message.startsWith('Unexpected token');
  }
}

/**
 * V8 gives no position for "Unexpected token" errors. Its parser stops at the first bad character, so every
 * prefix that contains it fails the same way and every shorter one does not: a binary search finds it.
 */
function offsetOfUnexpectedToken(text: string): number | null {
  if (!failsWithUnexpectedToken(text)) return null;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (failsWithUnexpectedToken(text.slice(0, mid + 1))) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function describeJsonError(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const reason = message.split(/, "| in JSON| at position| \(/)[0]!.replace(/[^\x20-\x7e]/g, '?').slice(0, 60).trim();
  const at = offsetFromMessage(message) ?? offsetOfUnexpectedToken(text);
  if (at === null) return reason;
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n');
  return `${reason} at line ${line}, column ${column}`;
}
