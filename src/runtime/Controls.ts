/**
 * What the layers above a connection (Client, Server, the testing module and the simulator) may do to it beyond
 * its public face: step its session with any input, freeze it, mute its PONGs, read its phase. Internal: not
 * exported by the package, and not part of `Connection`.
 *
 * Contract:
 * - {@link register} is called once by the module that made the connection; {@link of} finds the controls of
 *   that object (a `Client` is its connection, with the server's answer added to its face).
 * - {@link of} on an object that no module registered (a connection made elsewhere) gives controls that do
 *   nothing: its phase is `closed`, it is never frozen, and a request fails with `ConnectionClosed`.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import type * as Session from "../session/Session.ts"
import * as Errors from "./ConnectionError.ts"

/**
 * A connection's controls.
 *
 * @since 0.3.0
 * @category models
 */
export interface Controls {
  /** Session-level inputs for the role-specific layers. */
  readonly request: (input: (now: number) => Session.Input) => Effect.Effect<ReadonlyArray<Session.Command>, Errors.ConnectionClosed>
  /** A frozen connection keeps its socket open but reads nothing and ticks nothing until thawed (a SIGSTOP). */
  readonly freeze: (frozen: boolean) => Effect.Effect<void>
  /** `true` drops our PONGs instead of sending them. */
  readonly mute: (mute: boolean) => Effect.Effect<void>
  /** The session's phase now (a client's open step: `auth`, `feature`, `opening`). */
  readonly phase: () => Session.State["phase"]
  /** Whether the connection is frozen now. */
  readonly frozen: () => boolean
}

/**
 * What gives a connection's controls when asked (the connection's handle itself: nothing is allocated until then).
 *
 * @since 0.3.0
 * @category models
 */
export interface Source {
  readonly controls: () => Controls
}

const registry = new WeakMap<object, Source>()

/**
 * Records where the controls of `connection` come from.
 *
 * @since 0.3.0
 * @category internals
 */
export const register = (connection: object, source: Source): void => void registry.set(connection, source)

const detached: Controls = {
  request: () => Effect.fail(new Errors.ConnectionClosed()),
  freeze: () => Effect.void,
  mute: () => Effect.void,
  phase: () => "closed",
  frozen: () => false
}

/**
 * The controls of a connection made by this package (directly or through a `Client`).
 *
 * @since 0.3.0
 * @category internals
 */
export const of = (connection: object): Controls => registry.get(connection)?.controls() ?? detached
