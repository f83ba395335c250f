/**
 * A Promela model of the checker's transition system for one configuration, for SPIN to explore: the same state
 * variables, the same choices, one labelled transition of ours as one `d_step`, so SPIN's "states, stored" equals
 * the checker's states explored, plus SPIN's own initial state (before the client's `Open`).
 *
 * Contract:
 * - {@link promela}`(bounds)` explores the bounds with no property checked (so states carry no ghosts), then
 *   writes the model. It supports the bounds of the original model only: one order at an instant, no late ticks,
 *   no thaw, Close, calls, stalls, clock steps or open timeouts (anything else is refused with a reason), and
 *   configurations whose search pruned nothing (no channel reached `maxInFlight`).
 * - The sessions are the real `Session.step`, tabulated: each session is an id, as in the checker's hash-consed
 *   states, and the step of (session, input, tick) is a lookup in C tables (`c_decl`) of the checker's memoised
 *   steps, with a call's reply folded in. A step SPIN needs that the checker never took fails an assertion, as does
 *   a channel overflow: either would show the two transition systems differ.
 * - Everything else is Promela: global time, the two freeze flags, the SetKeepAlive calls made, the two session
 *   ids and the two channels as arrays of (frame, tick sent) with a length, oldest first, unused slots 0. An ended
 *   run is one state (all zero but `ended`) and a side frozen for good has its session (and the client its calls)
 *   zeroed, as the checker stores them. Scratch variables of a step are 0 between steps.
 *
 * @since 0.2.0
 */
import * as Bounds from "../../src/verify/Bounds.ts"
import { Inputs } from "../../src/verify/Model.ts"
import * as Search from "../../src/verify/Search.ts"

/** A Promela model and what the checker found on the same bounds. */
export interface Promela {
  /** keepalive.pml */
  readonly source: string
  /** keepalive.h, the session table it includes */
  readonly header: string
  /** The checker's states explored (stored). */
  readonly states: number
  readonly sessions: number
  readonly steps: number
}

/** Why these bounds cannot be written as the Promela model, or undefined. */
export const unsupported = (b: Bounds.ResolvedBounds): string | undefined => {
  const off: Array<[boolean, string]> = [
    [b.bothOrders || b.lateTicks > 0, "both orders or late ticks"],
    [b.allowThaw.client || b.allowThaw.server, "thaw"],
    [b.closes.client || b.closes.server, "Close"],
    [b.calls > 0 || b.callLimit > 0 || b.slowCalls > 0, "application calls"],
    [b.appStalls, "stalls"],
    [b.clockStep !== 0, "clock steps"],
    [b.openTimeoutTicks + b.handshakeTimeoutTicks > 0, "open timeouts"],
    [b.variant === "draft", "the draft variant"]
  ]
  return off.find(([on]) => on)?.[1]
}

/** The `#define`s of a configuration (the model's parameters). */
export const defines = (b: Bounds.ResolvedBounds): ReadonlyArray<string> => [
  `#define HORIZON ${b.horizon}`,
  `#define MAXDELAY ${b.maxDelay}`,
  `#define MAXF ${b.maxInFlight}`,
  `#define MAXSET ${b.maxSetKeepAliveCalls}`,
  `#define NCHOICES ${b.setKeepAliveChoices.length}`,
  `#define FREEZE_C ${b.allowFreeze.client ? 1 : 0}`,
  `#define FREEZE_S ${b.allowFreeze.server ? 1 : 0}`
]

const NEVER = 1 << 30

/** Writes the Promela model of `bounds`; a string says why it cannot. */
export const promela = (bounds: Bounds.Bounds): Promela | string => {
  const t = Search.tabulate(bounds)
  if (t instanceof Bounds.InvalidBounds) return t.message
  const b = t.model.b
  const why = unsupported(b)
  if (why !== undefined) return `not modelled in Promela: ${why}`
  if (t.pruned > 0) return `the search pruned ${t.pruned} transitions (maxInFlight): not modelled in Promela`
  if (!t.complete) return "the search did not complete"
  const { steps, deadline, open, start } = t.model.steps()
  const byKey = new Map<string, (typeof steps)[number]>()
  for (const s of steps) byKey.set(`${s.sid},${s.input},${s.now}`, s)
  // a feed: the step, then the application's reply to each call it delivered, in order (as Model.feed)
  const feeds: Array<{ sid: number; input: number; now: number; next: number; close: number; sent: Array<number> }> = []
  for (const s of steps) {
    let next = s.entry.next
    let close = s.entry.close !== 0 ? 1 : 0
    const sent = [...s.entry.sent]
    for (const call of s.entry.calls) {
      if (close === 1) break
      const reply = byKey.get(`${next},${Inputs.frame + 2 * call + 1},${s.now}`)
      if (reply === undefined) {
        close = 9
        break
      }
      sent.push(...reply.entry.sent)
      next = reply.entry.next
      if (reply.entry.close !== 0) close = 1
    }
    feeds.push({ sid: s.sid, input: s.input, now: s.now, next, close, sent })
  }
  const sessions = deadline.length
  const inputs = Math.max(Inputs.frame, ...steps.map((s) => s.input)) + 1
  const h1 = b.horizon + 1
  const maxSent = Math.max(1, ...feeds.map((f) => f.sent.length))
  const row = new Int32Array(sessions * inputs).fill(-1)
  const rows: Array<Int32Array> = []
  feeds.forEach((f, e) => {
    const at = f.sid * inputs + f.input
    if (row[at] === -1) {
      row[at] = rows.length
      rows.push(new Int32Array(h1).fill(-1))
    }
    rows[row[at]!]![f.now] = e
  })
  const list = (xs: ArrayLike<number>) => Array.from(xs).join(",")
  const sentTable = feeds.flatMap((f) => Array.from({ length: maxSent }, (_, i) => f.sent[i] ?? 0))
  const sentNames = Array.from({ length: maxSent }, (_, i) => `s${i}`)
  // per side X (C, S): its session sessX, the channel to it nX, fX, tX; Promela inlines take no arrays
  const peer = (x: string) => (x === "C" ? "S" : "C")
  const load = (x: string) =>
    `c_code { int e = lookup(now.sess${x}, now.inp, now.now); if (e < 0) now.cl = 9; else { now.nx = E_NEXT[e]; now.cl = E_CLOSE[e]; now.ns = E_NSENT[e]; ${
      sentNames.map((n, i) => `now.${n} = E_SENT[e * MAXS + ${i}];`).join(" ")
    } } }; assert(cl != 9)`
  const push = (x: string, frame: string) => `assert(n${x} < MAXF); f${x}[n${x}] = ${frame}; t${x}[n${x}] = now; n${x}++`
  const feed = (x: string) => {
    const p = peer(x)
    const sends = sentNames.map((n, i) => `if :: ns > ${i} -> ${push(p, n)} :: else fi`).join("; ")
    return `${load(x)}; sess${x} = nx; if :: !frz${p} -> ${sends} :: else fi; if :: cl -> ended = 1 :: else fi`
  }
  const pop = (x: string) =>
    `hd = f${x}[0]; k = 1; do :: k < n${x} -> f${x}[k - 1] = f${x}[k]; t${x}[k - 1] = t${x}[k]; k++ :: else -> break od; n${x}--; f${x}[n${x}] = 0; t${x}[n${x}] = 0`
  const clear = (x: string) => `k = 0; do :: k < MAXF -> f${x}[k] = 0; t${x}[k] = 0; k++ :: else -> break od; n${x} = 0`
  const source = `/* The keepalive checker's transition system (test/bench/promela.ts): ${Bounds.describe(b).join("; ")} */
${defines(b).join("\n")}
#define IN_TICK ${Inputs.tick}
#define IN_OPEN ${Inputs.open}
#define IN_SET ${Inputs.set}
#define IN_FRAME ${Inputs.frame}

c_decl {
  \\#include "keepalive.h"
}

/* the state */
byte now;
bit ended;
bit frzC;
bit frzS;
byte setCalls;
short sessC = ${start[0]};
short sessS = ${start[1]};
/* the channel to the client and to the server: frames and ticks sent, oldest first */
byte nC;
byte fC[MAXF];
byte tC[MAXF];
byte nS;
byte fS[MAXF];
byte tS[MAXF];
/* scratch of one step, 0 between steps */
short inp;
short nx;
byte cl;
byte ns;
byte k;
byte hd;
bit dueC;
bit dueS;
${sentNames.map((n) => `byte ${n};`).join("\n")}

/* an ended run is one state; scratch is 0 between steps */
inline canon() {
  if
  :: ended -> now = 0; frzC = 0; frzS = 0; setCalls = 0; sessC = 0; sessS = 0; ${clear("C")}; ${clear("S")}
  :: else
  fi;
  inp = 0; nx = 0; cl = 0; ns = 0; k = 0; hd = 0; dueC = 0; dueS = 0${sentNames.map((n) => `; ${n} = 0`).join("")}
}

active proctype keepalive() {
  d_step { inp = IN_OPEN; ${feed("C")}; canon() };
end:
  do
  :: d_step { !ended && !frzS && nS > 0 -> ${pop("S")}; inp = IN_FRAME + 2 * hd; ${feed("S")}; canon() }
  :: d_step { !ended && !frzC && nC > 0 -> ${pop("C")}; inp = IN_FRAME + 2 * hd; ${feed("C")}; canon() }
  :: d_step { !ended && now < HORIZON && !(nS > 0 && now - tS[0] >= MAXDELAY) && !(nC > 0 && now - tC[0] >= MAXDELAY) ->
       now++;
       c_code { now.dueC = DL[now.sessC] <= now.now; now.dueS = DL[now.sessS] <= now.now; };
       if :: !frzC && dueC -> inp = IN_TICK; ${feed("C")} :: else fi;
       if :: !ended && !frzS && dueS -> inp = IN_TICK; ${feed("S")} :: else fi;
       canon() }
  :: d_step { FREEZE_C && !ended && !frzC -> frzC = 1; sessC = 0; setCalls = 0; ${clear("C")}; canon() }
  :: d_step { FREEZE_S && !ended && !frzS -> frzS = 1; sessS = 0; ${clear("S")}; canon() }
${
    b.setKeepAliveChoices.map((_, i) =>
      `  :: d_step { c_expr { !now.ended && !now.frzC && now.setCalls < MAXSET && OPEN[now.sessC] } -> setCalls++; inp = IN_SET + ${i}; ${feed("C")}; canon() }`
    ).join("\n")
  }
  od
}
`
  const header = `/* The session table of keepalive.pml: the checker's memoised Session.step, by (session, input, tick). */
#define NIN ${inputs}
#define H1 ${h1}
#define MAXS ${maxSent}
static const int ROW[${row.length}] = {${list(row)}};
static const int CELL[${Math.max(1, rows.length * h1)}] = {${list(rows.flatMap((r) => Array.from(r))) || "-1"}};
static const int E_NEXT[${feeds.length}] = {${list(feeds.map((f) => f.next))}};
static const unsigned char E_CLOSE[${feeds.length}] = {${list(feeds.map((f) => f.close))}};
static const unsigned char E_NSENT[${feeds.length}] = {${list(feeds.map((f) => f.sent.length))}};
static const unsigned char E_SENT[${sentTable.length}] = {${list(sentTable)}};
static const int DL[${sessions}] = {${list(deadline.map((d) => (d >= NEVER ? 100000 : d)))}};
static const unsigned char OPEN[${sessions}] = {${list(open.map((o) => (o ? 1 : 0)))}};
static int lookup(int sid, int input, int t) {
  int r = ROW[sid * NIN + input];
  return r < 0 ? -1 : CELL[r * H1 + t];
}
`
  return { source, header, states: t.states, sessions, steps: steps.length }
}
