/**
 * A wake-up for one waiting fiber: raised by synchronous code, awaited by the fiber. A connection's fiber waits on
 * one for its whole life, so it costs one small object and one effect, where a `Latch` costs a closure per method.
 *
 * Contract:
 * - {@link Signal.raise} wakes the waiter at once, or, with nobody waiting, leaves the signal raised so that the
 *   next {@link Signal.wait} returns at once; {@link Signal.wait} lowers it. {@link Signal.lower} forgets a raise.
 * - One waiter at a time; an interrupted wait leaves nothing behind.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"

/**
 * A signal.
 *
 * @since 0.3.0
 * @category models
 */
export class Signal {
  private raised = false
  private waiter: ((effect: Effect.Effect<void>) => void) | undefined

  /** Waits until raised (at once if it is), and lowers it. */
  readonly wait: Effect.Effect<void> = Effect.callback((resume) => {
    if (this.raised) {
      this.raised = false
      return resume(Effect.void)
    }
    this.waiter = resume
    return Effect.sync(() => {
      if (this.waiter === resume) this.waiter = undefined
    })
  })

  raise() {
    const waiter = this.waiter
    if (waiter === undefined) return void (this.raised = true)
    this.waiter = undefined
    waiter(Effect.void)
  }

  lower() {
    this.raised = false
  }
}
