// An application that follows a libvirt daemon: connected by URI with keepalive and kept up by a Schedule, the
// domains listed with a typed call, and their lifecycle events as a Stream that survives a daemon restart.
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Schedule, Stream } from "effect"
import { Client, Libvirt } from "effect-keepalive"

/** The daemon's domains now, and their lifecycle events from now on, on whichever connection is open. */
export const follow = (uri: string) =>
  Effect.gen(function*() {
    // the connection name comes from the URI; the schedule starts over after every connection that opened
    const kept = yield* Client.reconnecting(uri, {
      keepalive: { interval: "5 seconds", count: 5 },
      openTimeout: "10 seconds"
    }, Schedule.spaced("500 millis"))
    const libvirt = yield* Libvirt.fromReconnecting(kept)
    const { domains } = yield* libvirt.connectListAllDomains({ needResults: 1, flags: 0 })
    // registered once this succeeds, and again on every new connection
    const events = yield* libvirt.registerDomainEvents()
    return { kept, libvirt, domains, events }
  })

export const main = Effect.gen(function*() {
  const { kept, domains, events } = yield* follow(process.argv[2] ?? "qemu:///system")
  yield* Effect.log(`domains: ${domains.map((d) => d.name).join(", ")}`)
  yield* kept.changes.pipe(
    Stream.runForEach((state) => Effect.log(state._tag === "Dead" ? `dead: ${state.reason.message}` : state._tag)),
    Effect.forkScoped
  )
  yield* events.pipe(Stream.runForEach((e) => Effect.log(`${e.domain.name}: ${e.type}`)))
}).pipe(
  Effect.catchTag("GaveUp", (e) => Effect.logError(e.message)),
  Effect.scoped,
  Effect.provide(NodeServices.layer)
)

if (process.argv[1]?.endsWith("libvirt.ts")) NodeRuntime.runMain(main)
