/**
 * The design questions of the 2011 libvir-list discussion, decided by exploration, with answers written from
 * the evidence.
 *
 * Contract:
 * - {@link questions}`(bounds)` runs, for each question, a few searches ({@link Search.reach} for "can this
 *   happen", {@link Search.check} for "does this always hold") under the given bounds: their variant, policy,
 *   intervals, counts and delays are honoured, and each run changes only what its question is about.
 * - Nothing in an answer is fixed prose: the yes/no value and every sentence come from the runs' results, and
 *   each sentence cites the run (numbered) that supports it. The evidence draws every run: a shortest trace as
 *   the emails' numbered arrows, or the number of states in which the goal was not found.
 * - A run that stops early (or has invalid bounds) makes its question undecided, and the answer says so.
 * - A question about open connections (advertisement, pinging, detection) applies only when a connection can open
 *   under the bounds: otherwise it is answered "Does not apply", citing the run that shows no connection opens.
 * - The environment is never narrower than {@link questionBounds}: at least one application action (a call, an
 *   event, a feature query other than KEEPALIVE), so a session that takes any feature query for the advertisement
 *   is caught.
 *
 * @since 0.1.0
 */
import * as Frame from "../wire/Frame.ts"
import * as Trace from "../tools/Trace.ts"
import type * as Bounds from "./Bounds.ts"
import type * as Properties from "./Properties.ts"
import * as Search from "./Search.ts"

/**
 * A question decided by exploration.
 *
 * - `yes`: the answer, or `undefined` when a run could not decide it;
 * - `answer`: the answer in words, generated from the runs, citing them by number;
 * - `evidence`: every run, numbered, with its trace or its state count;
 * - `applies`: false when the question's premise is unreachable (then `yes` is `undefined`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Answer {
  readonly id: string
  /** False when the question's premise (an open connection) is unreachable under the bounds. */
  readonly applies: boolean
  readonly question: string
  readonly yes: boolean | undefined
  readonly answer: string
  readonly evidence: string
}

const isPing = (frame: Frame.Frame): boolean => Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Ping
const isPong = (frame: Frame.Frame): boolean => Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Pong

/**
 * Goals for {@link Search.reach}: the server writes a PING; the server opens the connection; the client
 * receives a PING; a side declares its peer dead.
 *
 * @since 0.1.0
 * @category goals
 */
export const goals = {
  serverPing: (e: Trace.TraceEvent): boolean => e.kind === "transmit" && e.from === "server" && isPing(e.frame),
  serverOpened: (e: Trace.TraceEvent): boolean => e.kind === "event" && e.side === "server" && e.command._tag === "Opened",
  clientPinged: (e: Trace.TraceEvent): boolean => e.kind === "receive" && e.side === "client" && isPing(e.frame),
  serverDeclaresDead: (e: Trace.TraceEvent): boolean => e.kind === "event" && e.side === "server" && e.command._tag === "PeerDead"
} as const

/**
 * The default bounds of {@link questions}: I = C = 2 on both sides, frames delivered within 1 tick, either side
 * may freeze, the client may call SetKeepAlive(2, 2) and stop, twice at most, and one application action (a
 * call, an event message or a feature query other than KEEPALIVE). Bounds given to {@link questions} override
 * these field by field.
 *
 * @since 0.1.0
 * @category questions
 */
export const questionBounds: Bounds.Bounds = { intervalTicks: 2, countClient: 2, serverIntervalTicks: 2, serverCount: 2, maxDelay: 1, calls: 1 }

/** One run of a question: what was asked, and what the search found. */
type Run =
  | { readonly kind: "reach"; readonly label: string; readonly result: Search.Reachability }
  | { readonly kind: "check"; readonly label: string; readonly result: Search.Verdict }

/** What a run established: true, false, or undecided. */
const outcome = (run: Run): boolean | undefined => {
  if (run.kind === "reach") return run.result.reachable ? true : run.result.complete ? false : undefined
  return run.result.violation !== undefined ? false : run.result.ok && run.result.complete ? true : undefined
}

/** A sentence about one run, citing it by number. */
const finding = (run: Run, n: number): string => {
  const cite = `(run ${n})`
  if (run.kind === "reach") {
    const r = run.result
    if (r.reachable) return `${run.label} is reachable, in ${r.depth} transitions at the shortest ${cite}`
    return r.complete ? `${run.label} is unreachable in every one of the ${r.statesExplored} states within the bounds ${cite}` : `${run.label} was not found in the ${r.statesExplored} states searched before the search stopped ${cite}`
  }
  const v = run.result
  if (v.violation !== undefined) return `${run.label} fails: ${v.violation.description} ${cite}`
  return v.ok && v.complete ? `${run.label} holds in all ${v.statesExplored} states ${cite}` : `${run.label} is undecided (${v.invalid?.message ?? "the search stopped early"}) ${cite}`
}

/** The evidence of one run: its finding and its trace. */
const drawn = (run: Run, n: number): string => {
  const head = `run ${n}: ${finding(run, n).replace(` (run ${n})`, "")}`
  if (run.kind === "reach" && run.result.reachable) return `${head}\n${Trace.arrows(run.result.trace)}`
  if (run.kind === "check" && run.result.violation !== undefined) return `${head}\n${Trace.arrows(run.result.violation.trace)}`
  return head
}

/**
 * Writes an answer from its runs: `decide` turns their outcomes into yes/no (or undefined), `because` picks the
 * runs whose findings justify it (all of them by default).
 */
const answerFrom = (
  id: string,
  question: string,
  runs: ReadonlyArray<Run>,
  decide: (outcomes: ReadonlyArray<boolean | undefined>) => boolean | undefined,
  extra: ReadonlyArray<string> = []
): Answer => {
  const outcomes = runs.map(outcome)
  const yes = outcomes.includes(undefined) ? undefined : decide(outcomes)
  const verdict = yes === undefined ? "Undecided" : yes ? "Yes" : "No"
  const findings = [...runs.map((r, i) => finding(r, i + 1)), ...extra]
  return {
    id,
    applies: true,
    question,
    yes,
    answer: `${verdict}: ${findings.join("; ")}.`,
    evidence: runs.map((r, i) => drawn(r, i + 1)).join("\n\n")
  }
}

const reachRun = (label: string, bounds: Bounds.Bounds, goal: (e: Trace.TraceEvent) => boolean): Run => ({ kind: "reach", label, result: Search.reach(bounds, goal) })

const checkRun = (label: string, bounds: Bounds.Bounds, properties: ReadonlyArray<Properties.PropertyName>): Run => ({ kind: "check", label, result: Search.check(bounds, { properties }) })

const traceOf = (run: Run): ReadonlyArray<Trace.TraceEvent> => (run.kind === "reach" && run.result.reachable ? run.result.trace : [])

const isAdvertise = (e: Trace.TraceEvent): boolean => e.kind === "transmit" && Frame.isKeepalive(e.frame.header) && e.frame.header.proc === Frame.KeepaliveProc.Advertise

/** Without the client's advertisement, can the server ping? */
const advertisement = (base: Bounds.Bounds): Answer => {
  const draft = base.variant === "draft"
  const withAdvert: Bounds.Bounds = draft ? { ...base, allowKeepAlive: true, setKeepAliveChoices: [] } : { ...base, clientAdvertises: true, setKeepAliveChoices: [] }
  const without: Bounds.Bounds = draft ? { ...base, allowKeepAlive: false } : { ...base, clientAdvertises: false }
  const runs = [
    reachRun("a server PING from a client that does not advertise", without, goals.serverPing),
    reachRun("a server PING from a client that advertises and never calls setKeepAlive", withAdvert, goals.serverPing),
    checkRun("'the server pings only after the advertisement reached it'", withAdvert, ["ping-after-advertisement"])
  ]
  const advert = traceOf(runs[1]!).some(isAdvertise)
  const how = `in run 2 the advertisement is ${advert ? "the keepalive ADVERTISE message" : "the SUPPORTS_FEATURE(KEEPALIVE) query of the open sequence, with no ADVERTISE message and no application call"}`
  return answerFrom(
    "advertisement",
    `Under ${draft ? "the seed-000 draft" : "libvirt (seed 001)"}, policy ${base.policy ?? "if-supported"}, does the server need the client's advertisement before it may ping?`,
    runs,
    ([a, b, c]) => a === false && b === true && c === true,
    runs[1]!.kind === "reach" && runs[1]!.result.reachable ? [how] : []
  )
}

/** Can a server mandate keepalive (policy required)? */
const mandate = (base: Bounds.Bounds): Answer => {
  const draft = base.variant === "draft"
  const required: Bounds.Bounds = { ...base, policy: "required" }
  const silent: Bounds.Bounds = draft ? { ...required, allowKeepAlive: false } : { ...required, clientAdvertises: false }
  const runs = [
    reachRun("under policy required, the server opening the connection of a client that advertises", { ...required, ...(draft ? { allowKeepAlive: true } : { clientAdvertises: true }) }, goals.serverOpened),
    reachRun("under policy required, the server opening the connection of a client that does not advertise", silent, goals.serverOpened),
    checkRun("'under policy required the server opens exactly the advertising clients'", required, ["required-exact", "ping-after-advertisement"])
  ]
  return answerFrom(
    "mandate",
    `Under ${draft ? "the seed-000 draft" : "libvirt (seed 001)"}, can a server mandate keepalive (policy required)?`,
    runs,
    ([a, b, c]) => a === true && b === false && c === true
  )
}

/** Is a client that never calls setKeepAlive pinged (and does it answer)? */
const pingedWithout = (base: Bounds.Bounds): Answer => {
  const bounds: Bounds.Bounds = { ...base, setKeepAliveChoices: [], allowKeepAlive: false }
  const runs = [reachRun("a PING reaching a client that never calls setKeepAlive (nor AllowKeepAlive)", bounds, goals.clientPinged)]
  const answered = traceOf(runs[0]!).some((e) => e.kind === "transmit" && e.from === "client" && isPong(e.frame))
  const reached = runs[0]!.kind === "reach" && runs[0]!.result.reachable
  return answerFrom(
    "pinged-without-setkeepalive",
    `Under ${base.variant === "draft" ? "the seed-000 draft" : "libvirt (seed 001)"}, policy ${base.policy ?? "if-supported"}, does a client that never calls setKeepAlive still get pinged?`,
    runs,
    ([a]) => a === true,
    reached ? [`the client ${answered ? "answers it with a PONG" : "does not answer it"} in run 1`] : []
  )
}

/** How long until a frozen client is declared dead, and is that exact? */
const detection = (base: Bounds.Bounds): Answer => {
  const bounds: Bounds.Bounds = { ...base, allowFreeze: { client: true, server: false } }
  const runs = [
    reachRun("the server declaring a frozen client dead", bounds, goals.serverDeclaresDead),
    checkRun("'no death before C unanswered PINGs and (C+1)·I of silence, and death by then'", { ...base, policy: base.policy ?? "if-supported" }, ["no-early-death", "bounded-liveness"])
  ]
  const dead = traceOf(runs[0]!).find(goals.serverDeclaresDead)
  const silence = dead?.kind === "event" && dead.command._tag === "PeerDead" ? [`in run 1 the server gives up after ${dead.command.pingsSent} unanswered PINGs and ${dead.command.silence} ms of silence`] : []
  return answerFrom(
    "detection",
    `Is a frozen client declared dead by the server, exactly at (C+1)·I of silence?`,
    runs,
    ([a, b]) => a === true && b === true,
    silence
  )
}

/**
 * Decides the questions of the 2011 design discussion under `bounds` (default {@link questionBounds}):
 *
 * - `advertisement`: does the server need the client's advertisement before it may ping (and what is it)?
 * - `mandate`: can a server mandate keepalive with policy `required`?
 * - `pinged-without-setkeepalive`: is a client that never calls setKeepAlive still pinged?
 * - `detection`: is a frozen client declared dead, exactly at (C+1)·I?
 *
 * @since 0.1.0
 * @category questions
 */
export const questions = (bounds: Bounds.Bounds = questionBounds): ReadonlyArray<Answer> => {
  const base: Bounds.Bounds = { ...questionBounds, ...bounds }
  const opens = reachRun("the server opening a connection", base, goals.serverOpened)
  const ifOpen = (ask: (b: Bounds.Bounds) => Answer): Answer => (outcome(opens) === false ? notApplicable(ask(base), opens) : ask(base))
  return [ifOpen(advertisement), mandate(base), ifOpen(pingedWithout), ifOpen(detection)]
}

/** The answer to a question whose premise, an open connection, is unreachable: it does not apply. */
const notApplicable = (asked: Answer, opens: Run): Answer => ({
  ...asked,
  applies: false,
  yes: undefined,
  answer: `Does not apply: no connection ever opens under these bounds: ${finding(opens, 1)}, so the question has no case to speak of.`,
  evidence: drawn(opens, 1)
})
