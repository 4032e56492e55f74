// The app every pool in bench/run serves: it answers "pid N" so the
// harness can tell which worker served a request. Under drover it serves
// the socket on fd 3 (LISTEN_PID is its pid); under the cluster module and
// pm2 it listens on $PORT (0: the cluster shares one kernel-chosen port).
// It writes the port it serves to $PORT_FILE once listening.
'use strict';
const fs = require('fs');
const http = require('http');

const server = http.createServer((req, res) => {
  const body = `pid ${process.pid}\n`;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});

const onFd3 = process.env.LISTEN_PID === String(process.pid);
server.listen(onFd3 ? { fd: 3 } : { port: Number(process.env.PORT || 0), host: '127.0.0.1' }, () => {
  const file = process.env.PORT_FILE;
  if (file) {
    const tmp = `${file}.${process.pid}`;
    fs.writeFileSync(tmp, String(server.address().port));
    fs.renameSync(tmp, file);
  }
});

// drover sends SIGTERM, pm2 SIGINT: finish what is in flight, then exit.
const stop = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
