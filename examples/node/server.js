// A tiny HTTP app served on the socket drover passes as fd 3.
//
// Run it with: DROVER_LISTEN=:8080 drover -- node examples/node/server.js
// then: curl localhost:8080 (repeat: several workers answer).
'use strict';
const http = require('http');

if (process.env.LISTEN_PID !== String(process.pid)) {
  console.error('not started through drover (LISTEN_PID is not my pid)');
  process.exit(1);
}

const server = http.createServer((req, res) => {
  const body = `hello from worker ${process.env.DROVER_WORKER_ID} pid ${process.pid}\n`;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});

// drover already bound and listens; never call listen(port) in a worker.
server.listen({ fd: 3 });

// Finish the requests in flight, then exit: drover sends SIGTERM on
// shutdown and when it replaces this worker.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
