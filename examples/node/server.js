// The cluster example from the Node.js docs, with drover as the primary.
//
// The docs fork one worker per CPU from `cluster.isPrimary` and every worker
// calls listen(8000). Here drover is the primary: it opens the port once,
// starts one worker per CPU of the container's budget (not the host's
// cores), restarts the ones that die and drains on SIGTERM. What is left is
// the worker branch, listening on the socket drover hands over as fd 3.
//
// Run it with: DROVER_LISTEN=:8080 drover -- node examples/node/server.js
// then: curl localhost:8080 (repeat: several workers answer).
'use strict';
const http = require('node:http');
const process = require('node:process');

if (process.env.LISTEN_PID !== String(process.pid)) {
  console.error('not started through drover (LISTEN_PID is not my pid)');
  process.exit(1);
}

// Workers can share any TCP connection; in this case it is an HTTP server.
let closing = false;
const server = http.createServer((req, res) => {
  if (closing) res.setHeader('Connection', 'close');
  const body = `hello from worker ${process.env.DROVER_WORKER_ID} pid ${process.pid}\n`;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});

// drover already bound and listens; never call listen(port) in a worker.
server.listen({ fd: 3 });
console.log(`Worker ${process.pid} started`);

// drover sends SIGTERM on shutdown and to the old worker of each slot on a
// SIGHUP reload. Finish the requests in flight and end every keep-alive
// connection, idle or busy, then exit: a connection left open keeps the
// worker alive until drover SIGKILLs it (docs/languages.md).
process.on('SIGTERM', () => {
  closing = true; // every answer from now on ends its connection
  server.keepAliveTimeout = 1; // one answered just before closes once it is idle
  server.close(() => process.exit(0)); // accept no more; exit once every connection has ended
  server.closeIdleConnections(); // idle keep-alive connections end now
});
