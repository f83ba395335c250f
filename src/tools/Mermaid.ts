/**
 * Traces as Mermaid `sequenceDiagram`s, for READMEs, issues and docs.
 *
 * Contract:
 * - {@link sequenceDiagram} is a pure function from `Trace.TraceEvent`s to Mermaid source text.
 * - Every frame written is a numbered message (the same numbers and flow letters as `Trace.arrows`), with its
 *   time. A frame that never reached the other side (the peer froze, crashed or the run ended first) is drawn as a
 *   lost message (`-x`). Receipts pair with writes in order, per direction, as on a TCP stream.
 * - Session events (open, keepalive started, peer dead, close), freezes and simulation notes become notes over
 *   the side concerned (or over both).
 * - Text that Mermaid would misread (`;`, `#`, line breaks) is replaced.
 *
 * @since 0.1.0
 */
import * as Trace from "../trace/Trace.ts"

const clean = (text: string): string => text.replace(/[;#]/g, ",").replace(/\s+/g, " ").trim()

const who = (side: Trace.Side): string => (side === "client" ? "C" : "S")

/**
 * Renders a trace as a Mermaid sequence diagram.
 *
 * @since 0.1.0
 * @category rendering
 */
export const sequenceDiagram = (trace: ReadonlyArray<Trace.TraceEvent>, options: { readonly title?: string } = {}): string => {
  // how many frames each side received: the first N writes of the other side arrived
  const received: Record<Trace.Side, number> = { client: 0, server: 0 }
  for (const e of trace) if (e.kind === "receive") received[e.side]++
  const written: Record<Trace.Side, number> = { client: 0, server: 0 }
  const lines: Array<string> = ["sequenceDiagram"]
  if (options.title !== undefined) lines.push(`    title ${clean(options.title)}`)
  lines.push("    participant C as Client", "    participant S as Server")
  let n = 0
  for (const e of trace) {
    const at = `${(e.at / 1000).toFixed(3)} s`
    switch (e.kind) {
      case "transmit": {
        n++
        const to: Trace.Side = e.from === "client" ? "server" : "client"
        written[e.from]++
        const arrived = written[e.from] <= received[to]
        const label = `${Trace.number(n, e.from, e.frame)} ${Trace.describeFrame(e.frame)}`
        lines.push(`    ${who(e.from)}${arrived ? "->>" : "-x"}${who(to)}: ${clean(label)} (${at})`)
        break
      }
      case "event":
        if (
          e.command._tag === "Opened" || e.command._tag === "PeerDead" || e.command._tag === "Close" || e.command._tag === "KeepAlive" ||
          e.command._tag === "OpenFailed"
        ) {
          lines.push(`    Note over ${who(e.side)}: ${clean(Trace.describeCommand(e.side, e.command).replace(/^[CS]: /, ""))} (${at})`)
        }
        break
      case "freeze":
      case "thaw":
        lines.push(`    Note over ${who(e.side)}: ${e.kind === "freeze" ? "frozen" : "thawed"} (${at})`)
        break
      case "note":
        lines.push(`    Note over C,S: ${clean(e.text)} (${at})`)
        break
      default:
        break
    }
  }
  return lines.join("\n")
}
