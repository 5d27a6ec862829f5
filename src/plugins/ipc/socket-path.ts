// The host socket a D-Bus address names, for the ipc plugin's bind mounts.

/**
 * The socket path of the first `unix:path=...` entry of a D-Bus address (e.g. $DBUS_SYSTEM_BUS_ADDRESS,
 * `unix:path=/run/x,guid=...`); null when it has none (abstract sockets cannot be bind-mounted).
 */
export function socketPathOf(address: string | undefined): string | null {
  for (const entry of (address ?? '').split(';')) {
    if (!entry.startsWith('unix:')) continue;
    const path = entry.slice('unix:'.length).split(',').find((kv) => kv.startsWith('path='));
    if (path === undefined) continue;
    try {
      return decodeURIComponent(path.slice('path='.length));
    } catch {
      return null;
    }
  }
  return null;
}
