// Reference TCP echo client (correct), Node version.
//
// Usage: node client.js HOST PORT
//
// Connects once to HOST:PORT with net.connect (the OS picks the ephemeral source port;
// the client never binds). Node's event loop reads stdin and the socket at once:
// process.stdin.pipe(socket) sends each line as stdin delivers it and, at end of stdin,
// calls socket.end(), which shuts down the write side (the server sees the end of
// stream); socket.pipe(process.stdout) prints whatever the server echoes as soon as it
// arrives, however it is split or merged. When the server closes the client exits, 0
// unless the connection failed. Cannot connect: a message naming HOST:PORT on stderr,
// exit 1.
'use strict';

const net = require('net');

if (process.argv.length !== 4) {
  console.error('usage: node client.js HOST PORT');
  process.exit(2);
}
const [host, portText] = process.argv.slice(2);
const address = `${host}:${portText}`;
let connected = false;

const socket = net.connect({ host, port: Number(portText) }, () => {
  connected = true;
  process.stdin.pipe(socket);
});

socket.pipe(process.stdout);

socket.on('error', (err) => {
  const what = connected ? `connection to ${address} failed` : `cannot connect to ${address}`;
  console.error(`client: ${what}: ${err.message}`);
});

// Writes to a pipe or a file are synchronous in Node on Linux, so every echo is out.
// Exiting here also stops a client whose server closed before its stdin ended.
socket.on('close', (hadError) => process.exit(hadError ? 1 : 0));
