// The application's own reconnect logic, tested in virtual time with effect-keepalive/testing.
import { Effect, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { Client, Server } from "effect-keepalive"
import * as Testing from "effect-keepalive/testing"

export const reconnectsAfterAFrozenServer = Effect.gen(function*() {
  let server: Effect.Effect<void> = Effect.void
  const dial = Effect.gen(function*() {
    const link = yield* Testing.memoryPair
    yield* Effect.forkScoped(Effect.scoped(Server.handleSocket(link.right, {
      keepalive: { interval: "1 second", count: 2, policy: "if-supported" },
      onConnection: (connection) => Effect.sync(() => void (server = Testing.freeze(connection)))
    })))
    return link.left
  })
  const kept = yield* Client.reconnecting(dial, { keepalive: { interval: "1 second", count: 2 } }, Schedule.spaced("5 seconds"))
  yield* kept.client
  yield* server
  yield* Testing.advance("3 seconds")
  yield* TestClock.adjust("5 seconds")
  return yield* kept.client
}).pipe(Effect.scoped)
