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
import * as Trace from "../trace/Trace.ts"
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

const isPing = (frame: Frame.Frame): boolean => Frame.keepaliveKind(frame.header) === "ping"
const isPong = (frame: Frame.Frame): boolean => Frame.keepaliveKind(frame.header) === "pong"

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
  serverDeclaresDead: (e: Trace.TraceEvent): boolean => e.kind === "event" && e.side === "server" && e.command._tag === "PeerDead",
  anyDeath: (e: Trace.TraceEvent): boolean => e.kind === "event" && e.command._tag === "PeerDead"
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
    return r.complete
      ? `${run.label} is unreachable in every one of the ${r.statesExplored} states within the bounds ${cite}`
      : `${run.label} was not found in the ${r.statesExplored} states searched before the search stopped ${cite}`
  }
  const v = run.result
  if (v.violation !== undefined) return `${run.label} fails: ${v.violation.description} ${cite}`
  return v.ok && v.complete
    ? `${run.label} holds in all ${v.statesExplored} states ${cite}`
    : `${run.label} is undecided (${v.invalid?.message ?? "the search stopped early"}) ${cite}`
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

const reachRun = (label: string, bounds: Bounds.Bounds, goal: (e: Trace.TraceEvent) => boolean): Run => ({
  kind: "reach",
  label,
  result: Search.reach(bounds, goal)
})

const checkRun = (label: string, bounds: Bounds.Bounds, properties: ReadonlyArray<Properties.PropertyName>): Run => ({
  kind: "check",
  label,
  result: Search.check(bounds, { properties })
})

const traceOf = (run: Run): ReadonlyArray<Trace.TraceEvent> => (run.kind === "reach" && run.result.reachable ? run.result.trace : [])

const isAdvertise = (e: Trace.TraceEvent): boolean => e.kind === "transmit" && Frame.keepaliveKind(e.frame.header) === "advertise"

/** Without the client's advertisement, can the server ping? */
const advertisement = (base: Bounds.Bounds): Answer => {
  const draft = base.variant === "draft"
  const withAdvert: Bounds.Bounds = draft
    ? { ...base, allowKeepAlive: true, setKeepAliveChoices: [] }
    : { ...base, clientAdvertises: true, setKeepAliveChoices: [] }
  const without: Bounds.Bounds = draft ? { ...base, allowKeepAlive: false } : { ...base, clientAdvertises: false }
  const runs = [
    reachRun("a server PING from a client that does not advertise", without, goals.serverPing),
    reachRun("a server PING from a client that advertises and never calls setKeepAlive", withAdvert, goals.serverPing),
    checkRun("'the server pings only after the advertisement reached it'", withAdvert, ["ping-after-advertisement"])
  ]
  const advert = traceOf(runs[1]!).some(isAdvertise)
  const how = `in run 2 the advertisement is ${
    advert ? "the keepalive ADVERTISE message" : "the SUPPORTS_FEATURE(KEEPALIVE) query of the open sequence, with no ADVERTISE message and no application call"
  }`
  return answerFrom(
    "advertisement",
    `Under ${draft ? "the seed-000 draft" : "libvirt (seed 001)"}, policy ${
      base.policy ?? "if-supported"
    }, does the server need the client's advertisement before it may ping?`,
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
    reachRun("under policy required, the server opening the connection of a client that advertises", {
      ...required,
      ...(draft ? { allowKeepAlive: true } : { clientAdvertises: true })
    }, goals.serverOpened),
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
    `Under ${base.variant === "draft" ? "the seed-000 draft" : "libvirt (seed 001)"}, policy ${
      base.policy ?? "if-supported"
    }, does a client that never calls setKeepAlive still get pinged?`,
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
    checkRun("'no death before C unanswered PINGs and (C+1)·I of silence, and death by then'", { ...base, policy: base.policy ?? "if-supported" }, [
      "no-early-death",
      "bounded-liveness"
    ])
  ]
  const dead = traceOf(runs[0]!).find(goals.serverDeclaresDead)
  const silence = dead?.kind === "event" && dead.command._tag === "PeerDead"
    ? [`in run 1 the server gives up after ${dead.command.pingsSent} unanswered PINGs and ${dead.command.silence} ms of silence`]
    : []
  return answerFrom(
    "detection",
    `Is a frozen client declared dead by the server, exactly at (C+1)·I of silence?`,
    runs,
    ([a, b]) => a === true && b === true,
    silence
  )
}

/** The time of the first event a goal picks in a run's trace, in seconds. */
const when = (run: Run, goal: (e: Trace.TraceEvent) => boolean): number | undefined => {
  const e = traceOf(run).find(goal) ?? (run.kind === "check" ? run.result.violation?.trace.find(goal) : undefined)
  return e === undefined ? undefined : e.at / 1000
}

/** libvirtd's defaults as bounds: 5 s × 5 on one 5 s tick, max_client_requests 5, a client that does not ping, no freeze. */
const LIBVIRTD: Bounds.Bounds = {
  rules: "libvirt",
  reader: "libvirtd",
  tickMs: 5000,
  serverIntervalTicks: 1,
  serverCount: 5,
  intervalTicks: 0,
  setKeepAliveChoices: [],
  callLimit: 5,
  maxDelay: 0,
  maxInFlight: 7,
  horizon: 7,
  allowFreeze: { client: false, server: false }
}

/** Under libvirt's defaults, how many slow calls kill a healthy client, and after how long? */
const starvation = (): Answer => {
  const counts = [1, 2, 3, 4, 5]
  const runs = [
    ...counts.map((n) => checkRun(`with ${n} slow call(s), 'no live client is declared dead'`, { ...LIBVIRTD, calls: n }, ["no-false-death"])),
    checkRun("under our rules and reader, with 5 slow calls, 'no live client is declared dead'", { ...LIBVIRTD, calls: 5, rules: "ours", reader: "ours" }, [
      "no-false-death"
    ])
  ]
  const first = counts.find((_, i) => outcome(runs[i]!) === false)
  const at = first === undefined ? undefined : when(runs[first - 1]!, goals.serverDeclaresDead)
  return answerFrom(
    "starvation",
    "Under libvirt's defaults (5 s × 5, max_client_requests 5), how many slow calls kill a healthy client, and after how long?",
    runs,
    (o) => o.slice(0, 5).includes(false) && o[5] === true,
    first === undefined ? [] : [`the fewest is ${first}, and the server declares the live client dead at ${at} s (run ${first})`]
  )
}

/** Can a wall-clock step kill a healthy peer (or keep a dead one alive), under the bounds' rules? */
const clockStep = (base: Bounds.Bounds): Answer => {
  const healthy: Bounds.Bounds = { ...base, maxDelay: 0, allowFreeze: { client: false, server: false }, calls: 0 }
  const step = Math.max(3, Math.abs(base.clockStep ?? 3))
  const runs = [
    reachRun(`a death with no freeze, the wall clocks stepping ${step} ticks forward`, { ...healthy, clockStep: step }, goals.anyDeath),
    reachRun(`a death with no freeze, the wall clocks stepping ${step} ticks back`, { ...healthy, clockStep: -step }, goals.anyDeath),
    checkRun(`with a frozen server and the wall clocks stepping ${step} ticks back, 'a silent peer is declared dead by (C+1)·I'`, {
      ...base,
      maxDelay: 0,
      calls: 0,
      clockStep: -step,
      allowFreeze: { client: false, server: true }
    }, ["bounded-liveness"])
  ]
  return answerFrom(
    "clock-step",
    `Under ${base.rules === "libvirt" ? "libvirt's rules" : "our rules"}, can a clock step kill a healthy peer?`,
    runs,
    ([a, b]) => a === true || b === true,
    [outcome(runs[2]!) === false ? "but a step back postpones the death of a dead peer (run 3)" : "and no step postpones the death of a dead peer (run 3)"]
  )
}

/** How long can a call block (every call slot held) before the server drops the client? */
const callBlock = (base: Bounds.Bounds): Answer => {
  const limit = base.callLimit ?? 1
  const count = base.serverCount ?? 2
  const bounds: Bounds.Bounds = {
    ...base,
    callLimit: limit,
    calls: limit,
    intervalTicks: 0,
    setKeepAliveChoices: [],
    maxDelay: 0,
    maxInFlight: Math.max(base.maxInFlight ?? 0, limit + count + 2),
    allowFreeze: { client: false, server: false }
  }
  const runs = [reachRun(`the server dropping a live client whose ${limit} call(s) block every call slot`, bounds, goals.serverDeclaresDead)]
  const at = when(runs[0]!, goals.serverDeclaresDead)
  return answerFrom(
    "call-block",
    `Under ${
      base.rules === "libvirt" ? "libvirt's rules" : "our rules"
    }, max_client_requests ${limit}, how long can a call block before the client is dropped: indefinitely?`,
    runs,
    ([a]) => a === false,
    at === undefined
      ? ["so a call may block for as long as the bounds reach: the client is never dropped for it"]
      : [`the client is dropped at ${at} s while its calls block (run 1)`]
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
 * and the questions users ask:
 *
 * - `starvation`: under libvirt's defaults, how many slow calls kill a healthy client, and when?
 * - `clock-step`: can a clock step kill a healthy peer (and does a step back postpone a dead one's death)?
 * - `call-block`: how long can a call block before the client is dropped ("Yes" means: without limit)?
 *
 * @since 0.1.0
 * @category questions
 */
export const questions = (bounds: Bounds.Bounds = questionBounds): ReadonlyArray<Answer> => {
  const base: Bounds.Bounds = { ...questionBounds, ...bounds }
  const opens = reachRun("the server opening a connection", base, goals.serverOpened)
  const ifOpen = (ask: (b: Bounds.Bounds) => Answer): Answer => (outcome(opens) === false ? notApplicable(ask(base), opens) : ask(base))
  return [ifOpen(advertisement), mandate(base), ifOpen(pingedWithout), ifOpen(detection), starvation(), ifOpen(clockStep), ifOpen(callBlock)]
}

/** The answer to a question whose premise, an open connection, is unreachable: it does not apply. */
const notApplicable = (asked: Answer, opens: Run): Answer => ({
  ...asked,
  applies: false,
  yes: undefined,
  answer: `Does not apply: no connection ever opens under these bounds: ${finding(opens, 1)}, so the question has no case to speak of.`,
  evidence: drawn(opens, 1)
})
