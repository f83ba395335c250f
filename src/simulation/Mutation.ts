/**
 * The model checker's mutants ({@link Mutants}) in the simulator: the same broken sessions and broken runtime
 * rules, applied to the production runtime, so that a swarm shows the properties catch them on real traces too.
 *
 * Contract:
 * - {@link stepperOf} gives the step function a side's connection runs with: `Session.step` itself for `none` and
 *   for the rules the simulator breaks outside the session; the mutant's `Mutants.stepperFor` for a session
 *   mutant; a server that starts pinging when it accepts (`server-pings-before-advertisement`); a driver whose
 *   `Pause` (`no-pause`) or `Resume` (`no-pause`, `no-resume`) never reaches the session.
 * - {@link stopsReadingAtLimit} and {@link armsOpenTimeouts} say which runtime rules the simulator breaks itself:
 *   a server that stops reading when its calls in flight reach the limit (libvirtd's rule, keepalive not paused),
 *   and open and handshake timeouts that are never armed (the monitor still judges them).
 * - {@link serverCount} is the keepalive_count the server runs with (one more under `off-by-one-count`).
 * - {@link withRules} makes a side's session follow libvirt's keepalive rules from its first step (the client's
 *   session is made by the runtime, which takes no rules option: the simulator swaps in a fresh libvirt core).
 *
 * @since 0.1.0
 */
import * as Keepalive from "../core/Keepalive.ts"
import * as Session from "../session/Session.ts"
import * as Mutants from "../verify/Mutants.ts"

/**
 * A step function: `Session.step` or a broken one.
 *
 * @since 0.1.0
 * @category models
 */
export type Stepper = Mutants.Stepper

/** A server that starts its keepalive on its first step, before any advertisement (it was accepted). */
const pingsOnAccept = (options: Session.ServerOptions): Stepper => (state, input) => {
  if (state.role !== "server" || state.phase !== "handshake" || state.keepalive.phase === "running" || options.policy === "disabled")
    return Session.step(state, input)
  const [keepalive] = Keepalive.step(state.keepalive, Keepalive.Input.Start(input.now, options.interval, options.count))
  return Session.step({ ...state, keepalive }, input)
}

/** A driver whose `Pause` / `Resume` inputs (those in `dropped`) never reach the session. */
const without = (dropped: ReadonlyArray<Session.Input["_tag"]>): Stepper => (state, input) =>
  dropped.includes(input._tag) ? [state, []] : Session.step(state, input)

/**
 * The step function a side runs with under a mutant (the server's options for the one that pings on accept).
 *
 * @since 0.1.0
 * @category constructors
 */
export const stepperOf = (mutant: Mutants.Mutant, side: "client" | "server", options: Session.ServerOptions): Stepper => {
  switch (mutant) {
    case "server-pings-before-advertisement":
      return side === "server" ? pingsOnAccept(options) : Session.step
    case "no-pause":
      return without(["Pause", "Resume"])
    case "no-resume":
      return without(["Resume"])
    default:
      return Mutants.stepperFor(mutant)
  }
}

/**
 * Whether the server stops reading when its calls in flight reach the limit, without pausing keepalive.
 *
 * @since 0.1.0
 * @category getters
 */
export const stopsReadingAtLimit = (mutant: Mutants.Mutant): boolean => mutant === "stop-reading-at-limit"

/**
 * Whether the client's open timeout and the server's handshake timeout are armed as the scenario says.
 *
 * @since 0.1.0
 * @category getters
 */
export const armsOpenTimeouts = (mutant: Mutants.Mutant): boolean => mutant !== "no-open-timeout"

/**
 * The keepalive_count the server runs with.
 *
 * @since 0.1.0
 * @category getters
 */
export const serverCount = (mutant: Mutants.Mutant, count: number): number => Mutants.serverCount(mutant, count)

/**
 * A step function (`Session.step` when `step` is undefined) whose session follows `rules`: under libvirt's, a
 * session still on a fresh core of ours gets a fresh libvirt core made at the same time before its first step.
 *
 * @since 0.1.0
 * @category constructors
 */
export const withRules = (step: Stepper | undefined, rules: Keepalive.Rules | undefined): Stepper => {
  const inner = step ?? Session.step
  if (rules !== "libvirt") return inner
  return (state, input) => inner(Keepalive.rulesOf(state.keepalive) === "libvirt" ? state : adopt(state), input)
}

/** The state with a libvirt core made when its own was (its last receipt, the creation time, when it is fresh). */
const adopt = (state: Session.State): Session.State =>
  ({ ...state, keepalive: Keepalive.make(state.keepalive.lastReceived, { rules: "libvirt" }) }) as Session.State
