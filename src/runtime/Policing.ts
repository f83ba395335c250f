/**
 * Flood policing of inbound frames: a token bucket per connection, over frames of every kind.
 *
 * Contract:
 * - A connection may receive `burst` frames at once and `rate` frames per second sustained. {@link admit} takes the
 *   bucket, the time (monotonic ms) and how many frames just arrived, updates the bucket in place and returns
 *   whether the frames fit; when they do not, the connection is closed with `FrameFlood`.
 * - No I/O and no clock (time is an argument); the bucket is a small mutable record owned by one connection.
 *
 * libvirtd has no such rule (its only bound is max_client_requests on calls). It is on by default here with a
 * generous limit ({@link defaults}) that no libvirt client comes near; `rate ≤ 0` turns it off.
 *
 * @since 0.2.0
 */

/**
 * Flood-policing settings.
 *
 * @since 0.2.0
 * @category models
 */
export interface FramePolicing {
  /** Frames per second, sustained; ≤ 0 disables policing. */
  readonly rate: number
  /** Frames allowed at once. */
  readonly burst: number
}

/**
 * 10 000 frames per second with bursts of 20 000: two orders of magnitude above keepalive and call traffic, far
 * below what a flooder sends on loopback.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaults: FramePolicing = { rate: 10_000, burst: 20_000 }

/**
 * A connection's bucket.
 *
 * @since 0.2.0
 * @category models
 */
export interface Bucket {
  tokens: number
  at: number
}

/**
 * A full bucket at `now`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const bucket = (policing: FramePolicing, now: number): Bucket => ({ tokens: policing.burst, at: now })

/**
 * Takes `frames` tokens at `now`: true when they fit, false when the peer floods.
 *
 * @since 0.2.0
 * @category policing
 */
export const admit = (policing: FramePolicing, b: Bucket, now: number, frames: number): boolean => {
  if (policing.rate <= 0) return true
  if (now > b.at) {
    b.tokens = Math.min(policing.burst, b.tokens + ((now - b.at) * policing.rate) / 1000)
    b.at = now
  }
  b.tokens -= frames
  return b.tokens >= 0
}
