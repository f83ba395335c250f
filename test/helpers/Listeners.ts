/**
 * TCP listeners on 127.0.0.1 that are not libvirt daemons, for tests of what a client does against them: one that
 * accepts and never writes (a frozen daemon), one that sends an SSH banner, an HTTP server.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"

const listening = (server: Net.Server): Effect.Effect<number, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as Net.AddressInfo).port)))
    }),
    () => Effect.sync(() => void (server.close(), (server as Http.Server).closeAllConnections?.()))
  )

/** Accepts, writes `greeting` if any, then says nothing and reads what it is sent. The port. */
const tcp = (greeting: string | undefined): Effect.Effect<number, never, Scope.Scope> =>
  Effect.suspend(() => {
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((s) => {
      sockets.add(s)
      s.on("error", () => undefined)
      if (greeting !== undefined) s.write(greeting)
    })
    return listening(server).pipe(Effect.tap(() => Effect.addFinalizer(() => Effect.sync(() => sockets.forEach((s) => s.destroy())))))
  })

/** Accepts and never writes (a SIGSTOP'd daemon's kernel still accepts). The port. */
export const silent: Effect.Effect<number, never, Scope.Scope> = tcp(undefined)

/** Sends an SSH server's banner on accept, then waits. The port. */
export const sshBanner = (banner: string): Effect.Effect<number, never, Scope.Scope> => tcp(`${banner}\r\n`)

/** Node's HTTP server: it answers bytes that are not HTTP with `400 Bad Request`. The port. */
export const http: Effect.Effect<number, never, Scope.Scope> = Effect.suspend(() => listening(Http.createServer((_, res) => res.end("hello\n"))))
