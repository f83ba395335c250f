import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Frame from "../../src/wire/Frame.ts"
import * as Session from "../../src/session/Session.ts"
import * as ProtocolVariant from "../../src/session/ProtocolVariant.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Property from "../helpers/Property.ts"

/** Sessions of both roles, both rules and both designs, fresh and after an open sequence and a PING; servers with a handshake deadline too. */
const bases = (): ReadonlyArray<Session.State> => {
  const states: Array<Session.State> = []
  for (const rules of ["ours", "libvirt"] as const) {
    for (const variant of [ProtocolVariant.libvirt, ProtocolVariant.draft]) {
      let c: Session.State = Session.client(0, { rules, variant, policing: { minInterval: 10, strikes: 2 } })
      states.push(c)
      c = Session.step(c, Session.Input.Open(1, "test:///default"))[0]
      states.push(c)
      let s: Session.State = Session.server(0, { interval: 2000, count: 2, policy: "if-supported", rules, variant })
      s = Session.step(
        s,
        Session.Input.Received(
          5,
          Frame.make(
            Remote.callHeader(Remote.RemoteProc.ConnectSupportsFeature, 1),
            Remote.encodeSupportsFeatureArgs({ feature: Remote.Feature.ProgramKeepalive })
          )
        )
      )[0]
      s = Session.step(s, Session.Input.Received(7, Frame.PING))[0]
      states.push(s)
      states.push(Session.server(0, { interval: 2000, count: 2, policy: "required", rules, variant }, { handshakeTimeout: 3000 }))
    }
  }
  return states
}

type Path = ReadonlyArray<string>

/** Every leaf of a state (a field that is not a plain object), by path; the keepalive core's `now` left out. */
const leaves = (value: unknown, path: Path = []): ReadonlyArray<Path> => {
  if (value === null || typeof value !== "object") return [path]
  return Object.keys(value).flatMap((
    k
  ) => (path.length === 1 && path[0] === "keepalive" && k === "now" ? [] : leaves((value as Record<string, unknown>)[k], [...path, k])))
}

/** Another value of the same leaf. */
const other = (v: unknown, draw: number): unknown =>
  typeof v === "number" ? v + 1 + draw : typeof v === "boolean" ? !v : typeof v === "string" ? `${v}~` : v === undefined ? draw : undefined

const setAt = (value: unknown, path: Path, draw: number): unknown => {
  if (path.length === 0) return other(value, draw)
  const [head, ...rest] = path
  return { ...(value as object), [head!]: setAt((value as Record<string, unknown>)[head!], rest, draw) }
}

const BASES = bases()
const Draw = Schema.Struct({
  base: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: BASES.length - 1 })),
  leaf: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1000 })),
  value: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 50 }))
})

describe("Session.key: the identity the model checker hash-conses sessions by", () => {
  it.prop("two states that differ in any one field (but the core's now) get different keys", [Draw], ([d]) => {
    const base = BASES[d.base]!
    const paths = leaves(base)
    const path = paths[d.leaf % paths.length]!
    const changed = setAt(base, path, d.value) as Session.State
    assert.notStrictEqual(Session.key(changed), Session.key(base), `field ${path.join(".")}`)
  }, Property.options(300))

  it("covers every leaf of every base state, and ignores only the core's now", () => {
    for (const base of BASES) {
      for (const path of leaves(base)) assert.notStrictEqual(Session.key(setAt(base, path, 3) as Session.State), Session.key(base), path.join("."))
      const later = { ...base, keepalive: { ...base.keepalive, now: base.keepalive.now + 1234 } }
      assert.strictEqual(Session.key(later), Session.key(base))
      assert.strictEqual(Session.key(Session.representative(base)), Session.key(base))
    }
    assert.isAbove(leaves(BASES[0]).length, 20)
  })
})
