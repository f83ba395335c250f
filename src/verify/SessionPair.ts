/**
 * Two pure sessions, a client and a server, joined by an in-order link with a fixed latency per direction,
 * driven in virtual time.
 *
 * Contract:
 * - {@link run} is a pure function of its options: the same options give the same trace. It never reads a
 *   clock; time jumps to the earliest pending event (a delivery, a session deadline, or a scripted action).
 * - At equal times, events run in a fixed order: scripted actions, then deliveries, then deadlines (input
 *   already received is fed before a due timer fires). Client before server at equal rank.
 * - A frozen side keeps its connection open but processes nothing: deliveries to it wait, its deadlines do not
 *   fire. When it thaws, the waiting frames are delivered first.
 * - When a side closes, frames already in flight still reach the peer, and then the run ends.
 *
 * It is the harness for the session's tests and the demo; the Effect runtime is not involved.
 *
 * @since 0.1.0
 */
import type * as Frame from "../wire/Frame.ts"
import * as Session from "../session/Session.ts"
import * as Trace from "../trace/Trace.ts"

/**
 * One side of the pair.
 *
 * @since 0.1.0
 * @category models
 */
export type Side = Trace.Side

/**
 * What happened, when (see `Trace.TraceEvent`).
 *
 * @since 0.1.0
 * @category models
 */
export type TraceEvent = Trace.TraceEvent

/**
 * A scripted step: at time `at`, feed `side` the input built by `input`, or freeze / thaw it.
 *
 * @since 0.1.0
 * @category models
 */
export type Action =
  | { readonly at: number; readonly side: Side; readonly input: (now: number) => Session.Input }
  | { readonly at: number; readonly side: Side; readonly freeze: boolean }

/**
 * Options for {@link run}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly client: Session.State
  readonly server: Session.State
  /** One-way latency in ms, client → server. Default 0. */
  readonly toServer?: number
  /** One-way latency in ms, server → client. Default 0. */
  readonly toClient?: number
  readonly actions?: ReadonlyArray<Action>
  /** The run stops at this time at the latest. */
  readonly until: number
  /** Safety bound on processed events. Default 100 000. */
  readonly maxEvents?: number
}

/**
 * The outcome of a run: the trace, both final sessions, and the time the run stopped.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome {
  readonly trace: ReadonlyArray<TraceEvent>
  readonly client: Session.State
  readonly server: Session.State
  readonly end: number
}

interface InFlight {
  readonly at: number
  readonly to: Side
  readonly frame: Frame.Frame
}

const other = (side: Side): Side => (side === "client" ? "server" : "client")

/**
 * Runs the pair until `until`, until a side closes and the link drains, or until nothing is pending.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (options: Options): Outcome => {
  const sessions: Record<Side, Session.State> = { client: options.client, server: options.server }
  const frozen: Record<Side, boolean> = { client: false, server: false }
  const latency: Record<Side, number> = { server: options.toServer ?? 0, client: options.toClient ?? 0 }
  const actions = [...(options.actions ?? [])].sort((a, b) => a.at - b.at)
  const maxEvents = options.maxEvents ?? 100_000
  const trace: Array<TraceEvent> = []
  const inFlight: Array<InFlight> = []
  let closing = false
  let now = 0
  let nextAction = 0

  const shown: Record<Side, ReturnType<typeof Session.countdown>> = {
    client: Session.countdown(options.client),
    server: Session.countdown(options.server)
  }
  const feed = (side: Side, input: Session.Input): void => {
    const [next, commands] = Session.step(sessions[side], input)
    sessions[side] = next
    const c = Session.countdown(next)
    if (c.pingsLeft !== shown[side].pingsLeft || c.deadline !== shown[side].deadline || c.count !== shown[side].count) {
      shown[side] = c
      trace.push({ at: now, kind: "countdown", side, ...c })
    }
    for (const command of commands) {
      trace.push(Trace.ofCommand(now, side, command))
      if (command._tag === "Transmit" && !closing) inFlight.push({ at: now + latency[other(side)], to: other(side), frame: command.frame })
      if (command._tag === "Close") closing = true
    }
  }

  /** The index of the earliest delivery that can happen (to a side that is not frozen); FIFO at equal times. */
  const nextDelivery = (): number => {
    let best = -1
    inFlight.forEach((f, i) => {
      if (!frozen[f.to] && (best < 0 || f.at < inFlight[best]!.at)) best = i
    })
    return best
  }

  for (let processed = 0; processed < maxEvents; processed++) {
    const action = actions[nextAction]
    const deliveryIndex = nextDelivery()
    const delivery = deliveryIndex < 0 ? undefined : inFlight[deliveryIndex]!.at
    const deadlines = (["client", "server"] as const).map((s) => frozen[s] || closing ? undefined : Session.nextDeadline(sessions[s]))
    const candidates = [
      action?.at,
      delivery,
      deadlines[0],
      deadlines[1]
    ].filter((t): t is number => t !== undefined)
    if (candidates.length === 0) break
    const at = Math.max(now, Math.min(...candidates))
    if (at > options.until) break
    now = at
    if (action !== undefined && action.at <= now) {
      nextAction++
      if ("freeze" in action) {
        frozen[action.side] = action.freeze
        trace.push({ at: now, kind: action.freeze ? "freeze" : "thaw", side: action.side })
      } else if (!closing) {
        feed(action.side, action.input(now))
      }
      continue
    }
    if (delivery !== undefined && delivery <= now) {
      const [f] = inFlight.splice(deliveryIndex, 1)
      if (f !== undefined) {
        trace.push({ at: now, kind: "receive", side: f.to, frame: f.frame })
        feed(f.to, Session.Input.Received(now, f.frame))
      }
      continue
    }
    if (closing) {
      if (inFlight.length === 0) break
      continue
    }
    const side: Side = deadlines[0] !== undefined && deadlines[0] <= now ? "client" : "server"
    feed(side, Session.Input.Tick(now))
  }
  return { trace, client: sessions.client, server: sessions.server, end: now }
}
