// Dobby's D-Bus names (service, object, interfaces) and the extra events interface dobby-ts adds.

export const DOBBY_SERVICE = 'org.rdk.dobby';
export const DOBBY_OBJECT = '/org/rdk/dobby';
export const ADMIN_IFACE = 'org.rdk.dobby.admin1';
export const CTRL_IFACE = 'org.rdk.dobby.ctrl1';
export const DEBUG_IFACE = 'org.rdk.dobby.debug1';
/** dobby-ts's own: what Dobby's signals lack (exit code, signal, OOM, start failures), never changing Dobby's. */
export const EVENTS_IFACE = 'org.rdk.dobby.events1';
/** dobby-ts's own: resource usage (GetStats) with what GetInfo lacks (cpu user/system, memory peak, pids limit). */
export const STATS_IFACE = 'org.rdk.dobby.stats1';

/**
 * `Event` on EVENTS_IFACE: descriptor, id, event type (created, started, paused, resumed, exited,
 * start-failed, deleted), time in ms since the epoch, exit code (-1 unless exited normally),
 * signal (0 unless killed by one), raw wait status (-1 unless exited), OOM-killed, error code and
 * message (empty unless start-failed).
 */
export const EVENT_SIGNAL = 'Event';
export const EVENT_SIGNATURE = 'isstiiibss';

export const UNKNOWN_METHOD_ERROR = 'org.freedesktop.DBus.Error.UnknownMethod';

/** Dobby's wire states (GetState), indexed by value, as DobbyTool's list names them. */
export const WIRE_STATE_NAMES = ['invalid', 'starting', 'running', 'stopping', 'paused', 'hibernating', 'hibernated', 'awakening'] as const;
