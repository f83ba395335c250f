/**
 * Moving virtual time in runtime tests.
 *
 * `TestClock.adjust` waits for the fibers that a sleeper's wake-up sets running, but not for work started
 * outside a sleep (a peer writing, a freeze). {@link settle} lets such work run to rest first: it hands the event
 * loop a few turns, during which no virtual time passes. {@link advance} settles, moves the clock, and settles
 * again.
 */
import { Effect } from "effect"
import { TestClock } from "effect/testing"

const turn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/** Lets every fiber that is ready run until the system is at rest (no virtual time passes). */
export const settle: Effect.Effect<void> = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* turn
})

/** Settles, moves virtual time forward by `ms`, and settles again. */
export const advance = (ms: number): Effect.Effect<void> =>
  settle.pipe(Effect.andThen(TestClock.adjust(ms)), Effect.andThen(settle))
