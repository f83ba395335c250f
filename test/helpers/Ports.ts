/** Ports on 127.0.0.1 for tests. */
import * as Net from "node:net"
import { Effect } from "effect"

/** A free TCP port on 127.0.0.1 (free a moment ago: nobody listens on it until someone does). */
export const freePort: Effect.Effect<number> = Effect.callback<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})
