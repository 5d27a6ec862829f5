// The builtin port driver's helper: runs inside a network namespace (under nsenter) and hands sockets made there to dobbyd.
//
// Node cannot setns, so dobbyd starts this script with `nsenter --net=<netns file> -- node netns-helper.mjs`
// and an IPC channel; every socket created here lives in that namespace and keeps living there after
// it is passed over the channel (SCM_RIGHTS). Plain JavaScript on purpose: it starts without
// TypeScript stripping and is found beside the sources whether dobbyd runs from them or from dist/.
//
// Requests (one JSON message each, answered with {id, ok, code?, message?} and, on success, a handle):
//   {op: 'listen', id, transport: 'tcp'|'udp', host, port, ipv6Only}  → a listening net.Server / bound dgram.Socket
//   {op: 'connect', id, host, port}                                    → a connected net.Socket
//   {op: 'udp', id, type: 'udp4'|'udp6'}                               → a dgram.Socket bound to an ephemeral port
// The helper keeps nothing: its copy of each handle is closed once sent. It exits when dobbyd goes.

import dgram from 'node:dgram';
import net from 'node:net';

const send = (reply, handle) =>
  new Promise((resolve) => {
    try {
      process.send(reply, handle, {}, () => resolve());
    } catch {
      resolve();
    }
  });

const failed = (id, err) => send({ id, ok: false, code: err?.code ?? 'EUNKNOWN', message: err?.message ?? String(err) });

function listen(m) {
  if (m.transport === 'tcp') {
    const server = net.createServer();
    server.once('error', (err) => void failed(m.id, err));
    const options = m.host === '' ? { port: m.port } : { host: m.host, port: m.port, ipv6Only: m.ipv6Only === true };
    server.listen(options, () => void send({ id: m.id, ok: true }, server).then(() => server.close()));
    return;
  }
  const family = m.host.includes(':') || m.host === '' ? 'udp6' : 'udp4';
  const socket = dgram.createSocket({ type: family, ipv6Only: m.ipv6Only === true });
  socket.once('error', (err) => {
    void failed(m.id, err);
    socket.close();
  });
  socket.bind({ port: m.port, address: m.host === '' ? '::' : m.host }, () => void send({ id: m.id, ok: true }, socket).then(() => socket.close()));
}

function connect(m) {
  const socket = net.connect({ host: m.host, port: m.port });
  socket.once('error', (err) => void failed(m.id, err));
  socket.once('connect', () => {
    socket.removeAllListeners('error');
    socket.on('error', () => {});
    // Node closes a sent net.Socket on this side (keepOpen false).
    void send({ id: m.id, ok: true }, socket);
  });
}

function udp(m) {
  const socket = dgram.createSocket(m.type);
  socket.once('error', (err) => {
    void failed(m.id, err);
    socket.close();
  });
  // Our copy must be closed once sent, or it keeps reading and steals the replies.
  socket.bind(0, () => void send({ id: m.id, ok: true }, socket).then(() => socket.close()));
}

process.on('message', (m) => {
  try {
    if (m?.op === 'listen') listen(m);
    else if (m?.op === 'connect') connect(m);
    else if (m?.op === 'udp') udp(m);
    else void failed(m?.id ?? 0, new Error(`unknown request ${JSON.stringify(m?.op)}`));
  } catch (err) {
    void failed(m?.id ?? 0, err);
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
