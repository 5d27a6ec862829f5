#!/usr/bin/python3
# The bench's thin D-Bus client of dobbyd (python3-dbus, libdbus underneath): one connection for the
# whole run, so neither its start nor Node is in any figure. It reads one JSON command per line on
# stdin, sends every call of the command at once, times from just before the first send to the last
# reply (or signal) with a monotonic clock, and prints one JSON line: {"ms": ..., ...}.
#
#   {"op": "bundle", "items": [[id, bundlePath], ...]}   StartFromBundle each; reply {"ms", "descriptors"}
#   {"op": "spec", "items": [[id, specJson], ...]}       StartFromSpec each; reply {"ms", "descriptors"}
#   {"op": "stop", "descriptors": [...], "force": b}     Stop each, until StoppedWithStatus of each; {"ms", "statuses"}
#   {"op": "ociconfig", "descriptor": d}                 GetOCIConfig; {"ms", "config"}
#   {"op": "cycles", "bundle": path, "prefix": p, "n": N} N sequential StartFromBundle + forced Stop; {"ms"}

import json
import sys
import time

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

SERVICE = 'org.rdk.dobby'
PATH = '/org/rdk/dobby'
CTRL = 'org.rdk.dobby.ctrl1'
DEBUG = 'org.rdk.dobby.debug1'


class Client:
    def __init__(self, address):
        dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
        self.bus = dbus.bus.BusConnection(address)
        self.obj = self.bus.get_object(SERVICE, PATH, introspect=False)
        self.loop = GLib.MainLoop()
        self.stopped = {}
        self.waiting = None
        self.bus.add_signal_receiver(self._on_stopped, signal_name='StoppedWithStatus', dbus_interface=CTRL)

    def _on_stopped(self, descriptor, container_id, status):
        self.stopped[int(descriptor)] = int(status)
        self._maybe_done()

    def _maybe_done(self):
        if self.waiting is not None and self.waiting():
            self.waiting = None
            self.loop.quit()

    def _all(self, calls):
        """Sends every (method, interface, signature, args) at once; returns replies in order and ms."""
        replies = [None] * len(calls)
        errors = []
        left = [len(calls)]
        stamp = {}

        def on_reply(i):
            def handler(*values):
                replies[i] = values
                left[0] -= 1
                if left[0] == 0:
                    stamp['end'] = time.perf_counter()
                self._maybe_done()
            return handler

        def on_error(err):
            errors.append(str(err))
            left[0] -= 1
            self._maybe_done()

        self.waiting = lambda: left[0] == 0
        t0 = time.perf_counter()
        for i, (method, iface, signature, args) in enumerate(calls):
            self.obj.get_dbus_method(method, iface)(*args, signature=signature, reply_handler=on_reply(i), error_handler=on_error, timeout=120)
        if left[0] > 0:
            self.loop.run()
        if errors:
            raise RuntimeError('; '.join(errors))
        return replies, (stamp.get('end', time.perf_counter()) - t0) * 1000

    def start(self, method, items):
        calls = [(method, CTRL, 'ssah', (i, arg, dbus.Array([], signature='h'))) for i, arg in items]
        replies, ms = self._all(calls)
        descriptors = [int(r[0]) for r in replies]
        bad = [items[k][0] for k, d in enumerate(descriptors) if d < 0]
        if bad:
            raise RuntimeError(f'{method} failed for {", ".join(bad)}')
        return {'ms': ms, 'descriptors': descriptors}

    def stop(self, descriptors, force):
        wanted = [int(d) for d in descriptors]
        for d in wanted:
            self.stopped.pop(d, None)
        t0 = time.perf_counter()
        replies, _ = self._all([('Stop', CTRL, 'ib', (d, bool(force))) for d in wanted])
        if not all(bool(r[0]) for r in replies):
            raise RuntimeError(f'Stop refused for some of {wanted}')
        if not all(d in self.stopped for d in wanted):
            self.waiting = lambda: all(d in self.stopped for d in wanted)
            self.loop.run()
        ms = (time.perf_counter() - t0) * 1000
        return {'ms': ms, 'statuses': [self.stopped.pop(d) for d in wanted]}

    def oci_config(self, descriptor):
        replies, ms = self._all([('GetOCIConfig', DEBUG, 'i', (int(descriptor),))])
        return {'ms': ms, 'config': str(replies[0][0])}

    def cycles(self, bundle, prefix, n):
        t0 = time.perf_counter()
        for k in range(n):
            d = self.start('StartFromBundle', [(f'{prefix}-{k}', bundle)])['descriptors'][0]
            self.stop([d], True)
        return {'ms': (time.perf_counter() - t0) * 1000}


def main():
    client = Client(sys.argv[1])
    print(json.dumps({'ready': True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        op = command['op']
        try:
            if op == 'bundle':
                out = client.start('StartFromBundle', command['items'])
            elif op == 'spec':
                out = client.start('StartFromSpec', command['items'])
            elif op == 'stop':
                out = client.stop(command['descriptors'], command.get('force', False))
            elif op == 'ociconfig':
                out = client.oci_config(command['descriptor'])
            elif op == 'cycles':
                out = client.cycles(command['bundle'], command['prefix'], int(command['n']))
            else:
                out = {'error': f'unknown op {op}'}
        except Exception as err:  # reported to the driver, which stops the bench
            out = {'error': str(err)}
        print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
