// Reference TCP echo server (correct), Node version, written as Node's tutorials do.
//
// Usage: node server.js PORT
//
// server.listen(port) shows Node's defaults: one socket on [::]:PORT that takes IPv4
// clients too (their connections are held as ::ffff:127.x.y.z), SO_REUSEADDR set by
// libuv, and a listen backlog of 511. socket.pipe(socket) echoes every byte, with
// back-pressure, and ends our side when the client ends its stream. A client that
// resets its connection makes its socket emit 'error' (ECONNRESET): without a handler
// Node throws it and the whole server dies, so each socket gets one.
'use strict';

const net = require('net');

if (process.argv.length !== 3) {
  console.error('usage: node server.js PORT');
  process.exit(2);
}
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`server: bad port ${JSON.stringify(process.argv[2])}`);
  process.exit(2);
}

const server = net.createServer((socket) => {
  socket.on('error', () => socket.destroy()); // that client's loss, not the server's
  socket.pipe(socket);
});

server.on('error', (err) => {
  console.error(`server: cannot listen on [::]:${port}: ${err.message}`);
  process.exit(1);
});

server.listen(port, () => {
  console.error(`listening on [::]:${port}`);
});
