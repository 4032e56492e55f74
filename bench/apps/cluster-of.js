// The Node cluster module running an app of docs/languages.md the way it
// runs without drover: $WORKERS forks of the file named by the first
// argument (a copy of the page's app that listens on $PORT instead of fd 3),
// sharing one port round-robin, restarted when they die, stopped on SIGTERM.
'use strict';
const cluster = require('node:cluster');
const path = require('node:path');

const n = Number(process.env.WORKERS || 2);
let stopping = false;
cluster.setupPrimary({ exec: path.resolve(process.argv[2]) });
for (let i = 0; i < n; i++) cluster.fork();
cluster.on('exit', () => {
  if (!stopping) cluster.fork();
  else if (Object.keys(cluster.workers).length === 0) process.exit(0);
});
process.on('SIGTERM', () => {
  stopping = true;
  for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
  setTimeout(() => process.exit(1), 8000).unref();
});
