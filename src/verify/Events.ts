/**
 * The user's own questions over trace events: `--reach EVENT` (can it happen?) and `--never EVENT` (a never-claim:
 * it must not happen), with EVENT a name from {@link names}, optionally bounded in time (`server-dead<8s`,
 * `client-ping>=3s`).
 *
 * Contract:
 * - {@link parse} never throws: it returns a {@link Query} or a message naming what it does not know and listing
 *   the names it does.
 * - A query is a predicate on one trace event (as the model records it), plus `healthy`: the event counts only in
 *   runs where no side was ever frozen. Since freezing is only ever a choice, such a run exists exactly when the
 *   event is reachable with freezes turned off, which is how the caller asks it ({@link boundsFor}).
 *
 * @since 0.1.0
 */
import * as Frame from "../wire/Frame.ts"
import type * as Trace from "../trace/Trace.ts"
import type * as Session from "../session/Session.ts"
import type * as Bounds from "./Bounds.ts"

type Predicate = (e: Trace.TraceEvent) => boolean

const keepalive = (kind: Frame.KeepaliveKind) => (frame: Frame.Frame): boolean => Frame.keepaliveKind(frame.header) === kind
const isPing = keepalive("ping")
const isPong = keepalive("pong")
const sent = (from: Trace.Side | undefined, what: (f: Frame.Frame) => boolean): Predicate => (e) =>
  e.kind === "transmit" && (from === undefined || e.from === from) && what(e.frame)
const command = (side: Trace.Side | undefined, tag: string, extra: (c: Session.Command) => boolean = () => true): Predicate => (e) =>
  e.kind === "event" && (side === undefined || e.side === side) && e.command._tag === tag && extra(e.command)

/**
 * Every event name and what it means.
 *
 * @since 0.1.0
 * @category constants
 */
export const names: Readonly<Record<string, { readonly means: string; readonly test: Predicate; readonly healthy?: boolean }>> = {
  "open": { means: "the server opens the connection", test: command("server", "Opened") },
  "client-open": { means: "the client sees the connection open", test: command("client", "Opened") },
  "refused": { means: "the server refuses CONNECT_OPEN", test: command("server", "Close", (c) => c._tag === "Close" && c.reason === "refused") },
  "ping": { means: "either side sends a PING", test: sent(undefined, isPing) },
  "client-ping": { means: "the client sends a PING", test: sent("client", isPing) },
  "server-ping": { means: "the server sends a PING", test: sent("server", isPing) },
  "pong": { means: "either side sends a PONG", test: sent(undefined, isPong) },
  "dead": { means: "either side declares its peer dead", test: command(undefined, "PeerDead") },
  "client-dead": { means: "the client declares the server dead", test: command("client", "PeerDead") },
  "server-dead": { means: "the server declares the client dead", test: command("server", "PeerDead") },
  "healthy-dead": {
    means: "a side declares its peer dead in a run where neither side was ever frozen, partitioned or crashed",
    test: command(undefined, "PeerDead"),
    healthy: true
  },
  "keepalive-started": {
    means: "the client's setKeepAlive starts pinging",
    test: command("client", "KeepAlive", (c) => c._tag === "KeepAlive" && c.outcome === "started")
  },
  "keepalive-unsupported": {
    means: "the client's setKeepAlive is answered unsupported",
    test: command("client", "KeepAlive", (c) => c._tag === "KeepAlive" && c.outcome === "unsupported")
  },
  "freeze": { means: "a side freezes", test: (e) => e.kind === "freeze" },
  "close": { means: "a side closes the connection", test: command(undefined, "Close") }
}

/**
 * A parsed question: the predicate, whether it needs a healthy run, and the text it came from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Query {
  readonly text: string
  readonly means: string
  readonly goal: Predicate
  readonly healthy: boolean
}

const COMPARE = /^([a-z-]+)\s*(?:(<=|>=|<|>|=)\s*(\d+(?:\.\d+)?)(ms|s)?)?$/

const within = (op: string, limit: number): (t: number) => boolean => {
  switch (op) {
    case "<":
      return (t) => t < limit
    case "<=":
      return (t) => t <= limit
    case ">":
      return (t) => t > limit
    case ">=":
      return (t) => t >= limit
    default:
      return (t) => t === limit
  }
}

/**
 * Parses `NAME` or `NAME<op>TIME` (op one of `<`, `<=`, `>`, `>=`, `=`; TIME `8s`, `500ms`, or ticks of `tickMs`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string, tickMs: number): Query | string => {
  const m = COMPARE.exec(text.trim())
  const entry = m === null ? undefined : names[m[1]!]
  if (m === null || entry === undefined)
    return `unknown event "${text}": expected one of ${Object.keys(names).join(", ")}, optionally with a time bound (server-dead<8s)`
  if (m[2] === undefined) return { text, means: entry.means, goal: entry.test, healthy: entry.healthy === true }
  const value = Number(m[3])
  const limit = m[4] === "s" ? value * 1000 : m[4] === "ms" ? value : value * tickMs
  const time = within(m[2], limit)
  return { text, means: `${entry.means}, at a time ${m[2]} ${limit} ms`, goal: (e) => entry.test(e) && time(e.at), healthy: entry.healthy === true }
}

/**
 * The bounds a query is asked under: a healthy query turns every freeze off.
 *
 * @since 0.1.0
 * @category constructors
 */
export const boundsFor = (
  query: Query,
  bounds: Bounds.Bounds
): Bounds.Bounds => (query.healthy ? { ...bounds, allowFreeze: { client: false, server: false } } : bounds)

/**
 * The vocabulary for `--help`: `name: what it means`, one per line.
 *
 * @since 0.1.0
 * @category rendering
 */
export const vocabulary = (): string => Object.entries(names).map(([name, e]) => `${name} (${e.means})`).join("; ")
