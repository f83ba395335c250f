/**
 * Testing helpers: what a test needs to put a connection or a link in a given state, kept off the production
 * `Connection`.
 *
 * Contract:
 * - {@link freeze} / {@link thaw}: a frozen connection keeps its socket open but reads nothing, ticks nothing and
 *   takes no request until thawed, like a SIGSTOP'd process; input that arrived meanwhile is fed on thaw before any
 *   due tick.
 * - {@link mute}: the connection stops sending PONGs (its peer's PINGs go unanswered), until unmuted.
 * - {@link memoryPair}: two connected in-memory sockets that work under `TestClock`; {@link link}: a simulated
 *   link with latency, jitter and faults (partition, silent drop, slow reader, cut), in virtual time.
 * - {@link advance}: moves `TestClock` and lets every fiber that became ready run to rest, before and after.
 * - Ending a test: a client that is frozen when its scope closes is released at once. A client whose server is
 *   frozen (or gone silent) waits for its CONNECT_CLOSE reply for `closeTimeout` (1 second) of virtual time, which
 *   nothing advances once the test's body is done: give such a client `closeTimeout: 0`, or thaw the server first.
 * - Importing this module runs nothing.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import type * as Duration from "effect/Duration"
import * as Connection from "../runtime/Connection.ts"
import * as Controls from "../runtime/Controls.ts"
import * as Transport from "../runtime/Transport.ts"
import * as SimulatedLink from "../simulation/SimulatedLink.ts"

/**
 * Freezes a connection (see the module header).
 *
 * @since 0.2.0
 * @category faults
 */
export const freeze = (connection: Connection.Connection): Effect.Effect<void> => Controls.of(connection).freeze(true)

/**
 * Thaws a frozen connection.
 *
 * @since 0.2.0
 * @category faults
 */
export const thaw = (connection: Connection.Connection): Effect.Effect<void> => Controls.of(connection).freeze(false)

/**
 * Drops (true) or sends again (false) the connection's PONGs.
 *
 * @since 0.2.0
 * @category faults
 */
export const mute = (connection: Connection.Connection, on = true): Effect.Effect<void> => Controls.of(connection).mute(on)

/**
 * Two connected in-memory sockets (see `Transport.memoryPair`).
 *
 * @since 0.2.0
 * @category links
 */
export const memoryPair = Transport.memoryPair

/**
 * A simulated link between a client and a server socket, with its fault controls (see `SimulatedLink.make`).
 *
 * @since 0.2.0
 * @category links
 */
export const link = (options: Partial<Parameters<typeof SimulatedLink.make>[0]> = {}) =>
  SimulatedLink.make({ toServer: options.toServer ?? { latency: 1 }, toClient: options.toClient ?? { latency: 1 }, seed: options.seed ?? 1 })

const turn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/**
 * Lets every fiber that is ready run until the system is at rest; no virtual time passes.
 *
 * @since 0.2.0
 * @category time
 */
export const settle: Effect.Effect<void> = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* turn
})

/**
 * Settles, moves `TestClock` forward by `duration`, and settles again.
 *
 * @since 0.2.0
 * @category time
 */
export const advance = (duration: Duration.Input): Effect.Effect<void> => settle.pipe(Effect.andThen(TestClock.adjust(duration)), Effect.andThen(settle))
