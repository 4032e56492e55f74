// Package compat runs real servers that nobody on this project wrote —
// uvicorn, gunicorn, puma, hypercorn and aiohttp from Debian, Express and
// Fastify from npm, Node's http module and Go's net/http — under drover,
// exactly as docs/languages.md shows them: the page's code blocks are
// parsed and executed, so the page cannot drift from what works. For each
// server it checks that both workers serve, that two rolling reloads and a
// kill -9 under keep-alive load fail no request and hold none for a
// second, that SIGTERM under load ends with exit 0 and no SIGKILL, and that
// the usual mistakes (the server binding drover's port itself, gunicorn's
// --bind fd://3, a shell without exec, nohup) look the way the page says.
//
// It is its own module so that `go test ./...` at the root does not run it
// beside the e2e suite: its latency bounds need the machine to itself.
// Run it as .ci/run does, after installing the servers:
//
//	cd e2e/compat && npm ci && go test -count=1 -v .
//
// A server that is not installed fails the suite; it never skips.
// COMPAT_DROVER_ENV (space-separated NAME=value words) is added to the
// environment of every drover the suite starts, e.g.
// COMPAT_DROVER_ENV=DROVER_READY=started to see what the default readiness
// saves.
package compat
