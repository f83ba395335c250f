/**
 * One benchmark client connection, held open until its process ends: connect over `socket`, start keepalive,
 * count it live, signal `ready`, and count it ended (or failed to open) when it stops.
 */
import { Deferred, Effect, References } from "effect"
import type * as Socket from "effect/socket/Socket"
import type { Scope } from "effect"
import * as Client from "../../src/runtime/Client.ts"

export interface HoldStats {
  live: number
  ended: number
  failed: number
}

export const holdClient = (
  socket: Effect.Effect<Socket.Socket, never, Scope.Scope>,
  keepalive: { readonly interval: number; readonly count: number },
  stats: HoldStats,
  ready: Deferred.Deferred<void>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* Client.connect(yield* socket, { name: "test:///default", closeTimeout: 0 })
    const outcome = yield* client.setKeepAlive(keepalive.interval, keepalive.count)
    if (outcome !== "started") return yield* Effect.die(new Error(`setKeepAlive: ${outcome}`))
    stats.live++
    yield* Deferred.succeed(ready, undefined)
    yield* Effect.exit(client.closed)
    stats.live--
    stats.ended++
  }).pipe(
    Effect.catchCause(() => Effect.sync(() => void stats.failed++).pipe(Effect.andThen(Deferred.succeed(ready, undefined)))),
    Effect.asVoid,
    Effect.provideService(References.MinimumLogLevel, "Error")
  )
