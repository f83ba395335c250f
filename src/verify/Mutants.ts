/**
 * Deliberately broken sessions for the model checker, built as wrappers around `Session.step` (the sessions
 * themselves are never changed): quick evidence that the properties bite. The mutation harness
 * (`npm run mutate`) goes further and edits the sources of the core and the session one line at a time.
 *
 * Contract: {@link stepperFor} returns `Session.step` itself for `"none"`; {@link initialServer} and
 * {@link serverCount} give the server the mutant starts with.
 *
 * @since 0.1.0
 */
import * as Frame from "../wire/Frame.ts"
import * as Keepalive from "../core/Keepalive.ts"
import * as Session from "../session/Session.ts"

/**
 * A built-in mutant:
 *
 * - `only-pong-resets`: only a PONG resets the countdown; other received frames leave it as it was;
 * - `send-resets`: sending any frame resets the sender's countdown;
 * - `off-by-one-count`: the peer is declared dead after C + 1 unanswered PINGs instead of C;
 * - `server-pings-before-advertisement`: the server starts pinging when it accepts the connection;
 * - `pong-dropped-when-not-pinging`: a side that does not ping itself does not answer PINGs.
 *
 * @since 0.1.0
 * @category models
 */
export type Mutant =
  | "none"
  | "only-pong-resets"
  | "send-resets"
  | "off-by-one-count"
  | "server-pings-before-advertisement"
  | "pong-dropped-when-not-pinging"

/**
 * Every mutant except `none`.
 *
 * @since 0.1.0
 * @category constants
 */
export const mutants: ReadonlyArray<Exclude<Mutant, "none">> = [
  "only-pong-resets",
  "send-resets",
  "off-by-one-count",
  "server-pings-before-advertisement",
  "pong-dropped-when-not-pinging"
]

/**
 * A session step function: `Session.step` or a broken version of it.
 *
 * @since 0.1.0
 * @category models
 */
export type Stepper = (state: Session.State, input: Session.Input) => Session.Step

const isPong = (frame: Frame.Frame): boolean => Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Pong

const withKeepalive = (state: Session.State, keepalive: Keepalive.State): Session.State =>
  state.role === "client" ? { ...state, keepalive } : { ...state, keepalive }

const onlyPongResets: Stepper = (state, input) => {
  const result = Session.step(state, input)
  if (input._tag !== "Received" || isPong(input.frame)) return result
  const [next, commands] = result
  const before = state.keepalive
  const after = next.keepalive
  if (before.phase !== "running" || after.phase !== "running") return result
  return [withKeepalive(next, { ...after, pingsSent: before.pingsSent, lastReceived: before.lastReceived, intervalStart: before.intervalStart }), commands]
}

const sendResets: Stepper = (state, input) => {
  const result = Session.step(state, input)
  const [next, commands] = result
  const k = next.keepalive
  if (k.phase !== "running" || !commands.some((c) => c._tag === "Transmit")) return result
  return [withKeepalive(next, { ...k, pingsSent: 0, lastReceived: k.now, intervalStart: k.now }), commands]
}

const offByOne: Stepper = (state, input) =>
  Session.step(state, input._tag === "SetKeepAlive" ? Session.Input.SetKeepAlive(input.now, input.interval, input.count + 1) : input)

const pongDropped: Stepper = (state, input) => {
  const result = Session.step(state, input)
  if (state.keepalive.phase === "running") return result
  const [next, commands] = result
  return [next, commands.filter((c) => !(c._tag === "Transmit" && isPong(c.frame)))]
}

/**
 * The step function of a mutant.
 *
 * @since 0.1.0
 * @category constructors
 */
export const stepperFor = (mutant: Mutant): Stepper => {
  switch (mutant) {
    case "only-pong-resets":
      return onlyPongResets
    case "send-resets":
      return sendResets
    case "off-by-one-count":
      return offByOne
    case "pong-dropped-when-not-pinging":
      return pongDropped
    case "server-pings-before-advertisement":
    case "none":
      return Session.step
  }
}

/**
 * The server's keepalive_count under a mutant.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serverCount = (mutant: Mutant, count: number): number => (mutant === "off-by-one-count" ? count + 1 : count)

/**
 * The server session a run starts with under a mutant.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initialServer = (mutant: Mutant, options: Session.ServerOptions): Session.State => {
  const server = Session.server(0, options)
  if (mutant !== "server-pings-before-advertisement" || options.policy === "disabled") return server
  const [keepalive] = Keepalive.step(server.keepalive, Keepalive.Input.Start(0, options.interval, options.count))
  return withKeepalive(server, keepalive)
}
