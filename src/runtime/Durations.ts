/**
 * Durations at the public edge: every interval and timeout accepts an Effect `Duration.Input` ("5 seconds",
 * `Duration.millis(250)`, or a plain number of milliseconds); the pure core keeps plain milliseconds inside.
 *
 * Contract: {@link toMillis} never throws: an input that is not a duration gives `undefined`, and the caller turns
 * that into its own typed error naming the field.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"

/**
 * The duration in milliseconds (negative numbers stay negative: "≤ 0" means "off" where it does), or `undefined`.
 *
 * @since 0.2.0
 * @category conversions
 */
export const toMillis = (input: Duration.Input): number | undefined => {
  if (typeof input === "number") return Number.isNaN(input) ? undefined : input
  try {
    const ms = Duration.toMillis(Duration.fromInputUnsafe(input))
    return Number.isNaN(ms) ? undefined : ms
  } catch {
    return undefined
  }
}
