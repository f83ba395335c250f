/**
 * The README's application (test/package/app/libvirt.ts) against libvirtd 9.0, as it is: connected by URI with
 * keepalive, the domains listed, and the test domain's lifecycle events followed as a Stream across a daemon restart.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { NodeServices } from "@effect/platform-node"
import { Effect, Exit, Fiber, Scope, Stream } from "effect"
import { follow } from "../package/app/libvirt.ts"
import * as Libvirt from "./Libvirt.ts"

beforeAll(() => Libvirt.requirePackages())

describe("the README's application against libvirtd 9.0", () => {
  it.live("lists the domains; start, suspend, resume and destroy arrive in order, before and after a daemon restart", () =>
    Effect.gen(function*() {
      const port = yield* Libvirt.freePort
      const first = yield* Scope.make()
      yield* Libvirt.startLibvirtd({ interval: 5, count: 5, port }).pipe(Scope.provide(first))
      const { kept, libvirt, domains, events } = yield* follow(`test+tcp://127.0.0.1:${port}/default`)
      assert.deepStrictEqual(domains.map((d) => d.name), ["test"])
      const seen = yield* events.pipe(Stream.take(6), Stream.runCollect, Effect.forkScoped)
      const dom = () => Effect.map(libvirt.domainLookupByName({ name: "test" }), (r) => r.dom)
      yield* libvirt.domainSuspend({ dom: yield* dom() })
      yield* libvirt.domainResume({ dom: yield* dom() })
      yield* libvirt.domainDestroy({ dom: yield* dom() })

      // the daemon restarts on the same port; the test driver's domain is running again
      const before = yield* kept.client
      yield* Scope.close(first, Exit.void)
      yield* Libvirt.startLibvirtd({ interval: 5, count: 5, port })
      yield* libvirt.domainDestroy({ dom: yield* dom() })
      yield* libvirt.domainCreate({ dom: yield* dom() })
      yield* libvirt.domainSuspend({ dom: yield* dom() })
      assert.notStrictEqual(yield* kept.client, before)

      const types = (yield* Fiber.join(seen)).map((e) => `${e.domain.name} ${e.type}`)
      assert.deepStrictEqual(types, ["test Suspended", "test Resumed", "test Stopped", "test Stopped", "test Started", "test Suspended"])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer), Effect.timeout("60 seconds")), 90_000)
})
