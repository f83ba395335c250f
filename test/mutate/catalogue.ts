/**
 * The mutation catalogue: one-line semantic mutants of the keepalive core and the session, each written from the
 * semantics (what libvirt's keepalive must do), with the place it changes and what it breaks; and of the guards
 * around them (frame and PING flood policing, the decoder's length check), which only the test suite can catch; and of
 * the runtime's busy-peer rules (liveness from what the peer sends), which the test suite must catch.
 *
 * Contract: each mutant names a file, a `find` text that occurs exactly once in it, and the `replace` text that
 * turns it into the mutant; the two differ in one line. `note` says what the change means.
 *
 * @since 0.1.0
 */

/**
 * One mutant.
 *
 * @since 0.1.0
 * @category models
 */
export interface Mutant {
  readonly id: string
  readonly file:
    | "src/core/Keepalive.ts"
    | "src/session/Session.ts"
    | "src/runtime/Policing.ts"
    | "src/wire/FrameDecoder.ts"
    | "src/runtime/Driver.ts"
    | "src/runtime/Calls.ts"
    | "src/runtime/Delivery.ts"
    | "src/runtime/Reader.ts"
  readonly find: string
  readonly replace: string
  readonly note: string
}

const core = (id: string, find: string, replace: string, note: string): Mutant => ({ id, file: "src/core/Keepalive.ts", find, replace, note })
const session = (id: string, find: string, replace: string, note: string): Mutant => ({ id, file: "src/session/Session.ts", find, replace, note })
const runtime = (id: string, find: string, replace: string, note: string, file: Mutant["file"] = "src/runtime/Driver.ts"): Mutant => ({
  id,
  file,
  find,
  replace,
  note
})
const guard = (id: string, file: "src/runtime/Policing.ts" | "src/wire/FrameDecoder.ts", find: string, replace: string, note: string): Mutant => ({
  id,
  file,
  find,
  replace,
  note
})

/**
 * Every mutant, core first.
 *
 * @since 0.1.0
 * @category constants
 */
export const catalogue: ReadonlyArray<Mutant> = [
  core("K01-pong-for-pong", `\n  kind === "ping" ? PONG_ONLY : NONE\n]`, `\n  kind === "pong" ? PONG_ONLY : NONE\n]`, "answers PONGs instead of PINGs"),
  core(
    "K02-receipt-keeps-count",
    `mk(state.phase, state.interval, state.count, 0, now, now, now, state.paused)`,
    `mk(state.phase, state.interval, state.count, state.pingsSent, now, now, now, state.paused)`,
    "a receipt does not forgive the PINGs already sent"
  ),
  core(
    "K03-receipt-keeps-interval",
    `mk(state.phase, state.interval, state.count, 0, now, now, now, state.paused)`,
    `mk(state.phase, state.interval, state.count, 0, now, state.intervalStart, now, state.paused)`,
    "a receipt does not restart the interval"
  ),
  core(
    "K04-one-ping-too-many",
    `  if (state.pingsSent >= state.count) {\n    return [\n      mk(`,
    `  if (state.pingsSent > state.count) {\n    return [\n      mk(`,
    "C + 1 PINGs before death"
  ),
  core(
    "K05-one-ping-too-few",
    `  if (state.pingsSent >= state.count) {\n    return [\n      mk(`,
    `  if (state.pingsSent + 1 >= state.count) {\n    return [\n      mk(`,
    "C − 1 PINGs before death"
  ),
  core(
    "K06-tick-strictly-after",
    `now < state.intervalStart + state.interval) {`,
    `now <= state.intervalStart + state.interval) {`,
    "a Tick exactly at the deadline does nothing"
  ),
  core(
    "K07-grid-drift",
    `const intervalStart = now - due < state.interval ? due : now`,
    `const intervalStart = now`,
    "a late Tick moves the grid (lateness adds up)"
  ),
  core(
    "K08-never-counts",
    `state.pingsSent + 1, state.lastReceived, intervalStart, now), PING_ONLY]`,
    `state.pingsSent, state.lastReceived, intervalStart, now), PING_ONLY]`,
    "PINGs are never counted: never dead"
  ),
  core(
    "K09-reconfig-forgets-pings",
    `const pingsSent = state.phase === "running" ? state.pingsSent : 0`,
    `const pingsSent = 0`,
    "a reconfiguration forgets the PINGs already sent"
  ),
  core(
    "K10-shorter-interval-condemns",
    `const earliest = pingsSent > 0 ? now : now - interval`,
    `const earliest = now - interval`,
    "an unanswered PING gets no new interval after a reconfiguration"
  ),
  core(
    "K11-zero-interval-runs",
    `  if (interval <= 0) {\n    return [mk("idle"`,
    `  if (interval < 0) {\n    return [mk("idle"`,
    "interval 0 starts pinging instead of stopping"
  ),
  core(
    "K12-first-from-start",
    `const intervalStart = fromReceipt > earliest ? fromReceipt : earliest`,
    `const intervalStart = now`,
    "the first deadline counts from Start, not from the last receipt"
  ),
  core(
    "K13-deadline-late",
    `  const due = state.intervalStart + state.interval\n  return due > state.now`,
    `  const due = state.intervalStart + state.interval + 1\n  return due > state.now`,
    "the deadline asked for is 1 ms late"
  ),
  core(
    "K14-pong-only-when-running",
    `\n  kind === "ping" ? PONG_ONLY : NONE\n]`,
    `\n  kind === "ping" && state.phase === "running" ? PONG_ONLY : NONE\n]`,
    "a side that does not ping does not answer"
  ),
  core(
    "K15-count-zero-never-dies",
    `  if (state.pingsSent >= state.count) {\n    return [\n      mk(`,
    `  if (state.pingsSent >= state.count && state.count > 0) {\n    return [\n      mk(`,
    "with C = 0 the peer is pinged instead of declared dead"
  ),
  core(
    "K16-reconfig-grid-from-now",
    `const fromReceipt = state.lastReceived + Math.min(pingsSent, count) * interval`,
    `const fromReceipt = now`,
    "a reconfiguration restarts the grid at the call"
  ),
  core(
    "K17-fresh-start-waits",
    `const earliest = pingsSent > 0 ? now : now - interval`,
    `const earliest = now`,
    "the first PING after a fresh start waits a whole interval from the start, not max(last receipt + I, start)"
  ),
  core(
    "K18-reconfig-death-from-call",
    `const earliest = pingsSent > 0 ? now : now - interval`,
    `const earliest = pingsSent >= count ? now + count * interval : pingsSent > 0 ? now : now - interval`,
    "with no PING left to send (C already out, or C = 0), new settings give death (C+1)·I after the call, not on their grid"
  ),
  core(
    "K19-pong-for-pong-too",
    `\n  kind === "ping" ? PONG_ONLY : NONE\n]`,
    `\n  kind === "ping" || kind === "pong" ? PONG_ONLY : NONE\n]`,
    "a PONG is answered with a PONG too (PONGs answering no PING)"
  ),
  session(
    "S01-any-query-advertises",
    `if (isKeepalive && state.variant.featureQueryAdvertises) return advertisedBy`,
    `if (state.variant.featureQueryAdvertises) return advertisedBy`,
    "any SUPPORTS_FEATURE query counts as the advertisement"
  ),
  session(
    "S02-required-inverted",
    `if (state.options.policy === "required" && !state.advertised && Keepalive.rulesOf`,
    `if (state.options.policy === "required" && state.advertised && Keepalive.rulesOf`,
    "required refuses the advertising clients instead"
  ),
  session(
    "S03-disabled-pings",
    `if (state.advertised || state.options.policy === "disabled") return [marked, extra]`,
    `if (state.advertised) return [marked, extra]`,
    "policy disabled still pings"
  ),
  session(
    "S04-unsupported-starts",
    `if (state.serverKeepalive !== true) return [state, [{ _tag: "KeepAlive", outcome: "unsupported" }]]`,
    `if (state.serverKeepalive === false) return [state, [{ _tag: "KeepAlive", outcome: "unsupported" }]]`,
    "setKeepAlive starts pinging when the server was never asked"
  ),
  session(
    "S05-client-only-keepalive-resets",
    `const [next, out] = keepalive(state, Keepalive.Input.Received(now, classify(frame.header)))`,
    `const [next, out] = Frame.isKeepalive(frame.header) ? keepalive(state, Keepalive.Input.Received(now, classify(frame.header))) : [state, NONE] as const`,
    "the client's countdown ignores replies and other traffic"
  ),
  session(
    "S06-server-only-keepalive-resets",
    `const [next, out] = keepalive(state, Keepalive.Input.Received(now, classify(h)))`,
    `const [next, out] = Frame.isKeepalive(h) ? keepalive(state, Keepalive.Input.Received(now, classify(h))) : [state, NONE] as const`,
    "the server's countdown ignores calls and other traffic"
  ),
  session(
    "S07-dead-without-close",
    `commands.push(dead, { _tag: "Close", reason: "keepalive-timeout", cause: dead })`,
    `commands.push(dead)`,
    "a dead peer is declared but the connection is not closed"
  ),
  session(
    "S08-client-count-plus-one",
    `Keepalive.Input.Stop(now) : Keepalive.Input.Start(now, interval, count))`,
    `Keepalive.Input.Stop(now) : Keepalive.Input.Start(now, interval, count + 1))`,
    "setKeepAlive(I, C) pings C + 1 times"
  ),
  session("S09-stop-reported-started", `outcome: interval > 0 ? "started" : "stopped"`, `outcome: "started"`, "setKeepAlive(0, 0) says started"),
  session(
    "S10-silent-client-asks",
    `return state.advertise && state.variant.queryFeatureAtOpen`,
    `return state.variant.queryFeatureAtOpen`,
    "a client configured not to advertise asks the feature anyway"
  ),
  session(
    "S11-server-count-minus-one",
    `Keepalive.Input.Start(now, state.options.interval, state.options.count))`,
    `Keepalive.Input.Start(now, state.options.interval, state.options.count - 1))`,
    "the server gives up one PING early"
  ),
  session(
    "S12-server-never-ticks",
    `if (input._tag === "Tick") return keepalive(state, Keepalive.Input.Tick(input.now))`,
    `if (input._tag === "Tick" && state.role === "client") return keepalive(state, Keepalive.Input.Tick(input.now))`,
    "the server's deadlines do nothing"
  ),
  session(
    "S13-deadline-only-when-open",
    `state.phase === "closed" ? undefined : Keepalive.nextDeadline(state.keepalive)`,
    `state.phase === "open" ? Keepalive.nextDeadline(state.keepalive) : undefined`,
    "no deadline before CONNECT_OPEN or while closing"
  ),
  session("S14-ping-classified-pong", `if (kind === "ping") return "ping"`, `if (kind === "ping") return "pong"`, "a received PING is taken for a PONG"),
  session(
    "S15-required-only-with-interval",
    `if (state.options.policy === "required" && !state.advertised && Keepalive.rulesOf`,
    `if (state.options.policy === "required" && !state.advertised && state.options.interval > 0 && Keepalive.rulesOf`,
    "required not enforced when the interval is ≤ 0"
  ),
  session(
    "S16-required-refuses-without-interval",
    `if (state.options.policy === "required" && !state.advertised && Keepalive.rulesOf`,
    `if (state.options.policy === "required" && (!state.advertised || state.options.interval <= 0) && Keepalive.rulesOf`,
    "required refuses an advertiser when the interval is ≤ 0"
  ),
  session(
    "S17-required-only-with-count",
    `if (state.options.policy === "required" && !state.advertised && Keepalive.rulesOf`,
    `if (state.options.policy === "required" && !state.advertised && state.options.count > 0 && Keepalive.rulesOf`,
    "required not enforced when the count is 0"
  ),
  session("S18-ping-strikes-never", `if (flood.strikes > (state.flood.policing.strikes)) {`, `if (false) {`, "PING strike policing never closes"),
  core(
    "L01-libvirt-timer-keeps-grid",
    `timer: now + state.interval }, "running", state.pingsSent + 1, seconds)`,
    `timer: wall.timer + state.interval }, "running", state.pingsSent + 1, seconds)`,
    "libvirt's rules: a late tick does not restart the interval (lateness no longer adds up)"
  ),
  core(
    "L02-libvirt-one-ping-too-many",
    `  if (state.pingsSent >= state.count) {\n    return [\n      withWall(`,
    `  if (state.pingsSent > state.count) {\n    return [\n      withWall(`,
    "libvirt's rules: C + 1 PINGs before death"
  ),
  core("L03-libvirt-clock-step-ignored", `offset: wall.offset + input.by`, `offset: wall.offset`, "libvirt's rules: the wall clock never steps"),
  core(
    "L04-libvirt-receipt-keeps-timer",
    `const timer = wall.timer >= 0 ? now + state.interval : -1`,
    `const timer = wall.timer`,
    "libvirt's rules: a receipt does not re-arm the timer to a whole interval"
  ),
  session(
    "L05-libvirt-required-honoured",
    `Keepalive.rulesOf(state.keepalive) === "ours") {`,
    `Keepalive.rulesOf(state.keepalive) !== undefined) {`,
    "libvirt's rules: keepalive_required is honoured (libvirtd ignores it)"
  ),
  guard("G01-frame-bucket-admits", "src/runtime/Policing.ts", `  return b.tokens >= 0`, `  return true`, "the frame token bucket always admits"),
  guard(
    "G02-decoder-min-length-4",
    "src/wire/FrameDecoder.ts",
    `  length < Frame.MIN_FRAME_SIZE\n`,
    `  length < Frame.LENGTH_SIZE\n`,
    "the decoder accepts length words of 4..27 until their bytes arrive"
  ),
  runtime(
    "R01-stop-stepping-at-limit",
    `    return !this.ended && !this.frozen\n`,
    `    return !this.ended && !this.frozen && (this.options.dispatch === undefined || this.delivery.inFlight < this.options.dispatch.maxRequests)\n`,
    "libvirtd's rule: frames are not stepped while the call slots are full, so a busy client's PONGs go unread"
  ),
  runtime(
    "R02-no-pause",
    `this.step(stalled ? Session.Input.Pause(now) : Session.Input.Resume(now))`,
    `if (!stalled) this.step(Session.Input.Resume(now))`,
    "keepalive keeps running while we do not read: the peer is blamed for our stall"
  ),
  runtime(
    "R03-pause-with-stuck-output",
    `(this.delivery.holding() && !this.out.full())`,
    `this.delivery.holding()`,
    "a full backlog pauses keepalive even when the peer does not read us: a never-reader is never declared dead"
  ),
  runtime(
    "R04-client-calls-unbounded",
    `return this.queued.length === 0 && this.sent.size < this.maxInFlight`,
    `return this.queued.length === 0`,
    "the client sends every call at once: a default libvirtd stops reading it at 5",
    "src/runtime/Calls.ts"
  ),
  runtime(
    "R05-client-backlog-stops-reading",
    `return this.backedUp() && (this.frames === undefined`,
    `return this.backedUp() && (this.frames !== undefined`,
    "an application that does not read its frames stops the reading of the peer (and a server's full backlog does not)",
    "src/runtime/Delivery.ts"
  ),
  runtime(
    "R06-no-stall-bound",
    `? undefined : this.stalledAt + max`,
    `? undefined : undefined`,
    "a stall never becomes SlowConsumer: reading stays stopped for ever"
  ),
  runtime(
    "R07-no-turn-budget",
    `const TURN_FRAMES = 128`,
    `const TURN_FRAMES = Infinity`,
    "a connection steps everything one read brought before any other connection runs: a flooding peer holds up the others",
    "src/runtime/Reader.ts"
  )
]
