/**
 * Deliberately broken sessions for the model checker, built as wrappers around `Session.step` (the sessions
 * themselves are never changed), and broken runtime rules (how the driver reads, pauses and times out): quick
 * evidence that the properties bite. The mutation harness (`npm run mutate`) goes further and edits the sources of
 * the core and the session one line at a time.
 *
 * Contract: {@link stepperFor} returns `Session.step` itself for `"none"` and for the runtime-rule mutants;
 * {@link initialServer} and {@link serverCount} give the server the mutant starts with; {@link ruleOf} says which
 * runtime rule a mutant breaks (the model reads it).
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
 * - `pong-dropped-when-not-pinging`: a side that does not ping itself does not answer PINGs;
 * - `fresh-start-waits`: the first PING after a fresh start waits a whole interval from the start, not
 *   max(last receipt + I, start) (only the upper bound of `ping-grid` and `bounded-liveness` sees it);
 * - `reconfigured-grid-late`: a reconfiguration while PINGs are unanswered puts the new grid an interval late: the
 *   next PING, or death, comes an interval after its place (only the upper bounds of `ping-grid` and
 *   `bounded-liveness` on the new grid see it);
 *
 * and the runtime rules (they need the bounds that exercise them: a call limit, a stalling application, silence
 * before open):
 *
 * - `stop-reading-at-limit`: the server stops reading when its calls in flight reach the limit, without pausing
 *   keepalive (libvirtd's rule);
 * - `no-pause`: reading stops at the pending bound but keepalive is not paused;
 * - `no-resume`: keepalive is paused but never resumed when reading starts again;
 * - `no-open-timeout`: neither the client's open timeout nor the server's handshake timeout is armed.
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
  | "fresh-start-waits"
  | "reconfigured-grid-late"
  | RuleMutant

/**
 * The mutants of a runtime rule rather than of the session.
 *
 * @since 0.1.0
 * @category models
 */
export type RuleMutant = "stop-reading-at-limit" | "no-pause" | "no-resume" | "no-open-timeout"

/**
 * The runtime-rule mutants.
 *
 * @since 0.1.0
 * @category constants
 */
export const ruleMutants: ReadonlyArray<RuleMutant> = ["stop-reading-at-limit", "no-pause", "no-resume", "no-open-timeout"]

/**
 * The runtime rule a mutant breaks, or `undefined` for a session mutant (and `none`).
 *
 * @since 0.1.0
 * @category getters
 */
export const ruleOf = (mutant: Mutant): RuleMutant | undefined => (ruleMutants as ReadonlyArray<Mutant>).includes(mutant) ? mutant as RuleMutant : undefined

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
  "pong-dropped-when-not-pinging",
  "fresh-start-waits",
  "reconfigured-grid-late",
  ...ruleMutants
]

/**
 * What each mutant breaks, in one sentence (for `--help` and the header of every run).
 *
 * @since 0.1.0
 * @category constants
 */
export const descriptions: Readonly<Record<Mutant, string>> = {
  "none": "the real session and runtime rules",
  "only-pong-resets": "only a PONG resets the countdown; other frames received leave it as it was",
  "send-resets": "sending any frame resets the sender's countdown",
  "off-by-one-count": "the peer is declared dead after C + 1 unanswered PINGs instead of C",
  "server-pings-before-advertisement": "the server starts pinging when it accepts the connection",
  "pong-dropped-when-not-pinging": "a side that does not ping itself does not answer PINGs",
  "fresh-start-waits": "the first PING after a fresh start waits a whole interval from the start, not max(last receipt + I, start)",
  "reconfigured-grid-late": "a reconfiguration while PINGs are unanswered puts the new grid an interval late",
  "stop-reading-at-limit": "the server stops reading at its call limit without pausing keepalive (libvirtd's rule; needs --call-limit)",
  "no-pause": "reading stops at the pending bound but keepalive is not paused (needs --call-limit or --app-stalls)",
  "no-resume": "keepalive is paused when reading stops but never resumed (needs --call-limit or --app-stalls)",
  "no-open-timeout": "neither the open timeout nor the handshake timeout is armed (needs --silent-open)"
}

/**
 * A session step function: `Session.step` or a broken version of it.
 *
 * @since 0.1.0
 * @category models
 */
export type Stepper = (state: Session.State, input: Session.Input) => Session.Step

const isPong = (frame: Frame.Frame): boolean => Frame.keepaliveKind(frame.header) === "pong"

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

/** setKeepAlive under our rules: the keepalive core before and after, when it runs afterwards. */
const started = (
  state: Session.State,
  input: Session.Input,
  next: Session.State
): { readonly before: Keepalive.State; readonly after: Keepalive.State } | undefined =>
  input._tag === "SetKeepAlive" && next.keepalive.phase === "running" && next.keepalive.wall === undefined
    ? { before: state.keepalive, after: next.keepalive }
    : undefined

const freshStartWaits: Stepper = (state, input) => {
  const result = Session.step(state, input)
  const [next, commands] = result
  const s = started(state, input, next)
  if (s === undefined || s.before.phase === "running" || s.after.intervalStart >= input.now) return result
  return [withKeepalive(next, { ...s.after, intervalStart: input.now }), commands]
}

const reconfiguredGridLate: Stepper = (state, input) => {
  const result = Session.step(state, input)
  const [next, commands] = result
  const s = started(state, input, next)
  if (s === undefined || s.before.phase !== "running" || s.after.pingsSent === 0) return result
  return [withKeepalive(next, { ...s.after, intervalStart: s.after.intervalStart + s.after.interval }), commands]
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
    case "fresh-start-waits":
      return freshStartWaits
    case "reconfigured-grid-late":
      return reconfiguredGridLate
    default:
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
