// Node: listen({fd: 3}) once a line arrives on stdin.
const http = require("http");
process.stdout.write("ready-to-listen\n");
process.stdin.once("data", () => {
  http.createServer((req, res) => res.end("ok")).listen({ fd: 3 });
});
