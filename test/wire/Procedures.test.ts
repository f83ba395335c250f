import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Procedures from "../../src/wire/Procedures.ts"
import * as Xdr from "../../src/wire/Xdr.ts"

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ")

const TEST: Procedures.Domain = { name: "test", uuid: "6695eb01-f6a4-8304-79aa-97f2502e193f", id: 1 }

describe("Procedures: declarations", () => {
  it("each declaration is named after its entry, and numbers are unique", () => {
    for (const [key, p] of Object.entries(Procedures.calls)) assert.strictEqual(p.name, key)
    const numbers = [...Object.values(Procedures.calls), ...Object.values(Procedures.messages)].map((p) => p.number)
    assert.strictEqual(new Set(numbers).size, numbers.length)
  })

  it("trace names are libvirt's, from the declaration", () => {
    assert.strictEqual(Procedures.nameOf(23), "domain_lookup_by_name")
    assert.strictEqual(Procedures.nameOf(24), "domain_lookup_by_uuid")
    assert.strictEqual(Procedures.nameOf(316), "connect_domain_event_callback_register_any")
    assert.strictEqual(Procedures.nameOf(318), "domain_event_callback_lifecycle")
    assert.strictEqual(Procedures.nameOf(6), "node_get_info")
    assert.isUndefined(Procedures.nameOf(9999))
    assert.strictEqual(Procedures.callOf(212)?.name, "DomainGetState")
  })

  it("a UUID is 16 bytes on the wire and its canonical text in TypeScript", () => {
    const bytes = Procedures.encodeArgs(Procedures.calls.DomainLookupByUuid, { uuid: TEST.uuid })
    assert.strictEqual(hex(bytes), "66 95 eb 01 f6 a4 83 04 79 aa 97 f2 50 2e 19 3f")
    assert.strictEqual(Procedures.formatUuid(Procedures.parseUuid(TEST.uuid.toUpperCase())), TEST.uuid)
  })

  it("remote_nonnull_domain as libvirt lays it out: name, uuid, id", () => {
    const bytes = Procedures.encodeReply(Procedures.calls.DomainLookupByName, { dom: TEST })
    assert.strictEqual(hex(bytes), "00 00 00 04 74 65 73 74 66 95 eb 01 f6 a4 83 04 79 aa 97 f2 50 2e 19 3f 00 00 00 01")
  })

  it("the lifecycle message: callback ID, then the domain, event and detail", () => {
    const body = { callbackId: 5, dom: TEST, event: Procedures.LifecycleEvent.Suspended, detail: 0 }
    const bytes = Procedures.encodeMessage(Procedures.messages.DomainEventCallbackLifecycle, body)
    assert.strictEqual(hex(bytes.subarray(0, 8)), "00 00 00 05 00 00 00 04")
    assert.strictEqual(bytes.length, 4 + 28 + 8)
    const decoded = Procedures.decodeMessage(Procedures.messages.DomainEventCallbackLifecycle, bytes)
    assert.deepStrictEqual(Result.getOrThrow(decoded), body)
  })

  it("node info: model as 32 ints (a C char array), then hyper memory and six ints", () => {
    const ret = { model: "i686", memory: 3_145_728n, cpus: 16, mhz: 1400, nodes: 2, sockets: 2, cores: 2, threads: 2 }
    const bytes = Procedures.encodeReply(Procedures.calls.NodeGetInfo, ret)
    assert.strictEqual(bytes.length, 32 * 4 + 8 + 6 * 4)
    assert.deepStrictEqual(Result.getOrThrow(Procedures.decodeReply(Procedures.calls.NodeGetInfo, bytes)), ret)
  })

  it("a reply that does not decode is a DecodeError naming the procedure, the path and the offset", () => {
    // one domain, then no `ret`
    const bytes = Xdr.encode((w) => w.uint(1).string("a").fixedOpaque(new Uint8Array(16)).int(1))
    const result = Procedures.decodeReply(Procedures.calls.ConnectListAllDomains, bytes)
    assert.isTrue(Result.isFailure(result))
    if (Result.isSuccess(result)) return
    const e = result.failure
    assert.deepStrictEqual([e.procedure, e.proc, e.part, e.what, e.offset], ["ConnectListAllDomains", 273, "reply", "ret (uint)", 32])
    assert.strictEqual(e.message, "ConnectListAllDomains (273) reply: ret (uint) at offset 32: needs 4 bytes, 0 remain")
    // a count whose domains (24 bytes at least each) cannot fit is refused at the body's offset
    const short = Procedures.decodeReply(Procedures.calls.ConnectListAllDomains, Xdr.encode((w) => w.uint(2).uint(0)))
    assert.strictEqual(Result.isFailure(short) ? `${short.failure.what}@${short.failure.offset}` : "", "domains (array body)@4")
  })
})
