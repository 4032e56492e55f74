// The Node cluster module as a supervisor, the way an app without drover or
// pm2 would use it: $WORKERS copies of server.js, a dead worker is forked
// again, SIGTERM stops the workers and exits once they are gone. The
// scheduling policy comes from NODE_CLUSTER_SCHED_POLICY (rr, the default,
// or none).
'use strict';
const cluster = require('cluster');
const path = require('path');

const n = Number(process.env.WORKERS || 2);
let stopping = false;
cluster.setupPrimary({ exec: path.join(__dirname, 'server.js') });
for (let i = 0; i < n; i++) cluster.fork();
cluster.on('exit', () => {
  if (!stopping) cluster.fork();
  else if (Object.keys(cluster.workers).length === 0) process.exit(0);
});
const stop = () => {
  if (stopping) return;
  stopping = true;
  for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
  setTimeout(() => process.exit(1), 8000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
