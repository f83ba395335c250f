/**
 * The attacker of the hostile benchmark (a child process of `hostile.ts`, so that the attack does not share an
 * event loop with the good client that measures): one flooding connection per frame kind against 127.0.0.1:port,
 * for a fixed time, then it reports what each flood sent and whether the server closed it.
 */
import * as Attack from "../helpers/Attack.ts"
import { serveParent } from "./util.ts"

serveParent({
  flood: async (m: { port: number; durationMs: number; kinds: ReadonlyArray<Attack.FloodKind> }) => {
    const results = await Promise.all(m.kinds.map((kind) => Attack.flood(m.port, { kind, durationMs: m.durationMs })))
    return { results }
  }
}, 10 * 60_000)
