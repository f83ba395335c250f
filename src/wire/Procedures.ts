/**
 * libvirt's remote procedures as typed declarations: each one is declared once, as an entry of {@link calls} (a
 * call: number, argument codec, reply codec) or of {@link messages} (an event the server sends: number, body
 * codec). The typed client (`Libvirt`), the server-side handler (`Libvirt.handler`) and the trace names
 * ({@link nameOf}) all come from these entries.
 *
 * Contract:
 * - Adding a procedure is one entry: its key (libvirt's name in PascalCase, e.g. `DomainGetState` for
 *   `REMOTE_PROC_DOMAIN_GET_STATE`), its number, and the codecs of its `_args` and `_ret` structs ({@link empty}
 *   when libvirt declares none), fields in libvirt's order under camelCase names.
 * - Layouts follow libvirt's remote program; every declared call is checked against libvirtd 9.0 in the interop
 *   suite. A `remote_nonnull_string` is a string of at most `REMOTE_STRING_MAX` bytes, a `remote_string` an optional
 *   one, a `remote_uuid` a UUID string (see {@link uuid}), `unsigned hyper` a `bigint`.
 * - Decoding never throws: {@link decodeReply}, {@link decodeArgs} and {@link decodeMessage} return a
 *   {@link DecodeError} naming the procedure, the part, the path to the bad item and its byte offset in the payload.
 *
 * Pure: no I/O, no clock, no exceptions.
 *
 * @since 0.2.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import type * as Xdr from "./Xdr.ts"
import * as S from "./XdrSchema.ts"

// ---------------------------------------------------------------------------------------------------------------
// Declarations
// ---------------------------------------------------------------------------------------------------------------

/**
 * A remote call: its name (the key of its entry in {@link calls}), number and the codecs of its arguments and reply.
 *
 * @since 0.2.0
 * @category models
 */
export interface Procedure<Name extends string, Args, Ret> {
  readonly name: Name
  readonly number: number
  readonly args: S.Codec<Args>
  readonly ret: S.Codec<Ret>
}

/**
 * An event the server sends as a MESSAGE: its name, number and the codec of its body.
 *
 * @since 0.2.0
 * @category models
 */
export interface Message<Name extends string, Body> {
  readonly name: Name
  readonly number: number
  readonly body: S.Codec<Body>
}

/**
 * The arguments of a procedure.
 *
 * @since 0.2.0
 * @category models
 */
export type ArgsOf<P> = P extends Procedure<string, infer A, any> ? A : never

/**
 * The reply of a procedure.
 *
 * @since 0.2.0
 * @category models
 */
export type RetOf<P> = P extends Procedure<string, any, infer R> ? R : never

/**
 * The body of an event message.
 *
 * @since 0.2.0
 * @category models
 */
export type BodyOf<M> = M extends Message<string, infer B> ? B : never

const call = <Args, Ret>(number: number, args: S.Codec<Args>, ret: S.Codec<Ret>) => ({ number, args, ret })
const message = <Body>(number: number, body: S.Codec<Body>) => ({ number, body })

/** Names each entry of a table after its key. */
const named = <T extends Record<string, object>>(table: T): { readonly [K in keyof T & string]: T[K] & { readonly name: K } } =>
  Object.fromEntries(Object.entries(table).map(([name, entry]) => [name, { ...entry, name }])) as any

// ---------------------------------------------------------------------------------------------------------------
// Shared types
// ---------------------------------------------------------------------------------------------------------------

/**
 * A codec of nothing: the arguments or reply of a procedure that has none.
 *
 * @since 0.2.0
 * @category codecs
 */
export const empty = S.empty

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")

/**
 * A UUID as its canonical text (`8-4-4-4-12` lower-case hex digits), from a `remote_uuid` (16 bytes, no length).
 *
 * @since 0.2.0
 * @category conversions
 */
export const formatUuid = (bytes: Uint8Array): string => {
  const h = hex(bytes)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

/**
 * The 16 bytes of a UUID from its text: its hex digits in order (dashes and other characters skipped); missing
 * digits are zero.
 *
 * @since 0.2.0
 * @category conversions
 */
export const parseUuid = (text: string): Uint8Array => {
  const digits = text.replace(/[^0-9a-fA-F]/g, "").padEnd(32, "0")
  return Uint8Array.from({ length: 16 }, (_, i) => parseInt(digits.slice(2 * i, 2 * i + 2), 16))
}

/**
 * `remote_uuid`: 16 bytes on the wire, the canonical text in TypeScript.
 *
 * @since 0.2.0
 * @category codecs
 */
export const uuid: S.Codec<string> = S.transform(S.fixedOpaque(16), formatUuid, parseUuid)

/**
 * `remote_nonnull_string`.
 *
 * @since 0.2.0
 * @category codecs
 */
export const nonnullString: S.Codec<string> = S.string()

/**
 * `remote_string`: a string that may be absent.
 *
 * @since 0.2.0
 * @category codecs
 */
export const remoteString: S.Codec<string | undefined> = S.optional(S.string())

/**
 * `remote_nonnull_domain`: a domain's name, UUID and ID (-1 when it is not running).
 *
 * @since 0.2.0
 * @category codecs
 */
export const Domain = S.struct({ name: nonnullString, uuid, id: S.int })

/**
 * A domain as the remote program names it.
 *
 * @since 0.2.0
 * @category models
 */
export type Domain = S.Type<typeof Domain>

/**
 * `remote_nonnull_network`.
 *
 * @since 0.2.0
 * @category codecs
 */
export const Network = S.struct({ name: nonnullString, uuid })

/**
 * A network as the remote program names it.
 *
 * @since 0.2.0
 * @category models
 */
export type Network = S.Type<typeof Network>

/**
 * `remote_nonnull_storage_pool`.
 *
 * @since 0.2.0
 * @category codecs
 */
export const StoragePool = S.struct({ name: nonnullString, uuid })

/**
 * A storage pool as the remote program names it.
 *
 * @since 0.2.0
 * @category models
 */
export type StoragePool = S.Type<typeof StoragePool>

/**
 * libvirt's list maxima: `REMOTE_DOMAIN_LIST_MAX`, `REMOTE_NETWORK_LIST_MAX`, `REMOTE_STORAGE_POOL_LIST_MAX`.
 *
 * @since 0.2.0
 * @category constants
 */
export const ListMax = { Domains: 16384, Networks: 16384, StoragePools: 4096 } as const

const dom = S.struct({ dom: Domain })
const domFlags = S.struct({ dom: Domain, flags: S.uint })
const listAll = S.struct({ needResults: S.int, flags: S.uint })

// ---------------------------------------------------------------------------------------------------------------
// The calls
// ---------------------------------------------------------------------------------------------------------------

/**
 * Every declared remote call, by name. One entry per procedure: `Name: call(number, args, ret)`.
 *
 * @since 0.2.0
 * @category procedures
 */
export const calls = named({
  // the connection
  ConnectGetType: call(3, empty, S.struct({ type: nonnullString })),
  ConnectGetVersion: call(4, empty, S.struct({ hvVer: S.uhyper })),
  NodeGetInfo: call(
    6,
    empty,
    S.struct({
      model: S.charArray(32),
      memory: S.uhyper,
      cpus: S.int,
      mhz: S.int,
      nodes: S.int,
      sockets: S.int,
      cores: S.int,
      threads: S.int
    })
  ),
  ConnectGetCapabilities: call(7, empty, S.struct({ capabilities: nonnullString })),
  ConnectGetHostname: call(59, empty, S.struct({ hostname: nonnullString })),
  ConnectGetUri: call(110, empty, S.struct({ uri: nonnullString })),
  ConnectIsSecure: call(149, empty, S.struct({ secure: S.int })),
  ConnectGetLibVersion: call(157, empty, S.struct({ libVer: S.uhyper })),
  ConnectNumOfDomains: call(51, empty, S.struct({ num: S.int })),
  // domains
  DomainCreate: call(9, dom, empty),
  DomainCreateXml: call(10, S.struct({ xmlDesc: nonnullString, flags: S.uint }), dom),
  DomainDefineXml: call(11, S.struct({ xml: nonnullString }), dom),
  DomainDestroy: call(12, dom, empty),
  DomainGetXmlDesc: call(14, domFlags, S.struct({ xml: nonnullString })),
  DomainGetInfo: call(16, dom, S.struct({ state: S.int, maxMem: S.uhyper, memory: S.uhyper, nrVirtCpu: S.int, cpuTime: S.uhyper })),
  DomainLookupById: call(22, S.struct({ id: S.int }), dom),
  DomainLookupByName: call(23, S.struct({ name: nonnullString }), dom),
  DomainLookupByUuid: call(24, S.struct({ uuid }), dom),
  DomainReboot: call(27, domFlags, empty),
  DomainResume: call(28, dom, empty),
  DomainShutdown: call(33, dom, empty),
  DomainSuspend: call(34, dom, empty),
  DomainUndefine: call(35, dom, empty),
  DomainIsActive: call(150, dom, S.struct({ active: S.int })),
  DomainIsPersistent: call(151, dom, S.struct({ persistent: S.int })),
  DomainCreateWithFlags: call(196, domFlags, dom),
  DomainGetState: call(212, domFlags, S.struct({ state: S.int, reason: S.int })),
  DomainUndefineFlags: call(231, domFlags, empty),
  DomainDestroyFlags: call(234, domFlags, empty),
  DomainShutdownFlags: call(258, domFlags, empty),
  DomainDefineXmlFlags: call(350, S.struct({ xml: nonnullString, flags: S.uint }), dom),
  // lists
  ConnectListAllDomains: call(273, listAll, S.struct({ domains: S.array(Domain, ListMax.Domains, 24), ret: S.uint })),
  ConnectListAllStoragePools: call(281, listAll, S.struct({ pools: S.array(StoragePool, ListMax.StoragePools, 20), ret: S.uint })),
  ConnectListAllNetworks: call(283, listAll, S.struct({ nets: S.array(Network, ListMax.Networks, 20), ret: S.uint })),
  NetworkLookupByName: call(46, S.struct({ name: nonnullString }), S.struct({ net: Network })),
  StoragePoolLookupByName: call(84, S.struct({ name: nonnullString }), S.struct({ pool: StoragePool })),
  // events
  ConnectDomainEventCallbackRegisterAny: call(316, S.struct({ eventId: S.int, dom: S.optional(Domain) }), S.struct({ callbackId: S.int })),
  ConnectDomainEventCallbackDeregisterAny: call(317, S.struct({ callbackId: S.int }), empty),
  ConnectRegisterCloseCallback: call(360, empty, empty),
  ConnectUnregisterCloseCallback: call(361, empty, empty)
})

/**
 * Every declared event message, by name: `Name: message(number, body)`.
 *
 * @since 0.2.0
 * @category procedures
 */
export const messages = named({
  /** `remote_domain_event_callback_lifecycle_msg`, its inner `msg` struct flattened (the bytes are the same). */
  DomainEventCallbackLifecycle: message(318, S.struct({ callbackId: S.int, dom: Domain, event: S.int, detail: S.int })),
  ConnectEventConnectionClosed: message(362, S.struct({ reason: S.int }))
})

/**
 * The declared calls' type: the names and their procedures.
 *
 * @since 0.2.0
 * @category models
 */
export type Calls = typeof calls

/**
 * Any declared call.
 *
 * @since 0.2.0
 * @category models
 */
export type AnyCall = Calls[keyof Calls]

// ---------------------------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------------------------

/**
 * `virDomainState`.
 *
 * @since 0.2.0
 * @category constants
 */
export const DomainState = {
  NoState: 0,
  Running: 1,
  Blocked: 2,
  Paused: 3,
  Shutdown: 4,
  Shutoff: 5,
  Crashed: 6,
  PmSuspended: 7
} as const

/**
 * `virDomainEventType`: the `event` of a lifecycle event.
 *
 * @since 0.2.0
 * @category constants
 */
export const LifecycleEvent = {
  Defined: 0,
  Undefined: 1,
  Started: 2,
  Suspended: 3,
  Resumed: 4,
  Stopped: 5,
  Shutdown: 6,
  PmSuspended: 7,
  Crashed: 8
} as const

/**
 * `virDomainEventID` values used here.
 *
 * @since 0.2.0
 * @category constants
 */
export const DomainEventId = { Lifecycle: 0 } as const

/**
 * `virConnectCloseReason`.
 *
 * @since 0.2.0
 * @category constants
 */
export const CloseReason = { Error: 0, Eof: 1, Keepalive: 2, Client: 3 } as const

/**
 * `virConnectListAllDomainsFlags` (the common ones); 0 lists every domain.
 *
 * @since 0.2.0
 * @category constants
 */
export const ListAllDomainsFlags = {
  Active: 1,
  Inactive: 2,
  Persistent: 4,
  Transient: 8,
  Running: 16,
  Paused: 32,
  Shutoff: 64
} as const

// ---------------------------------------------------------------------------------------------------------------
// Names and decoding
// ---------------------------------------------------------------------------------------------------------------

/** `DomainLookupByName` → `domain_lookup_by_name`. */
const snake = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase()

const NAMES: ReadonlyMap<number, string> = new Map(
  [...Object.values(calls), ...Object.values(messages)].map((p) => [p.number, snake(p.name)])
)

/**
 * libvirt's name of a declared procedure or message in lower case without its `remote_proc_` prefix (e.g.
 * `domain_lookup_by_name` for 23), or `undefined` for a number not declared here.
 *
 * @since 0.2.0
 * @category names
 */
export const nameOf = (proc: number): string | undefined => NAMES.get(proc)

const CALLS: ReadonlyMap<number, AnyCall> = new Map(Object.values(calls).map((p) => [p.number, p as AnyCall]))

/**
 * The declared call with this number, if any.
 *
 * @since 0.2.0
 * @category names
 */
export const callOf = (proc: number): AnyCall | undefined => CALLS.get(proc)

/**
 * A payload that does not decode under its declaration: which procedure, which part (`args`, `reply` or `message`),
 * the path to the bad item (`what`), its byte offset in the payload (the frame's offset is 28 more) and why.
 *
 * @since 0.2.0
 * @category errors
 */
export class DecodeError extends Data.TaggedError("DecodeError")<{
  readonly procedure: string
  readonly proc: number
  readonly part: "args" | "reply" | "message"
  readonly what: string
  readonly offset: number
  readonly detail: string
}> {
  override get message(): string {
    return `${this.procedure} (${this.proc}) ${this.part}: ${this.what} at offset ${this.offset}: ${this.detail}`
  }
}

const decodeWith = <A>(
  declaration: { readonly name: string; readonly number: number },
  part: DecodeError["part"],
  codec: S.Codec<A>,
  payload: Uint8Array
): Result.Result<A, DecodeError> =>
  Result.mapError(
    S.decode(codec, payload),
    (e: Xdr.XdrError) => new DecodeError({ procedure: declaration.name, proc: declaration.number, part, what: e.what, offset: e.offset, detail: e.detail })
  )

/**
 * Decodes a call's reply payload.
 *
 * @since 0.2.0
 * @category decoding
 */
export const decodeReply = <Name extends string, A, R>(procedure: Procedure<Name, A, R>, payload: Uint8Array): Result.Result<R, DecodeError> =>
  decodeWith(procedure, "reply", procedure.ret, payload)

/**
 * Decodes a call's argument payload (the server's side).
 *
 * @since 0.2.0
 * @category decoding
 */
export const decodeArgs = <Name extends string, A, R>(procedure: Procedure<Name, A, R>, payload: Uint8Array): Result.Result<A, DecodeError> =>
  decodeWith(procedure, "args", procedure.args, payload)

/**
 * Decodes an event message's body.
 *
 * @since 0.2.0
 * @category decoding
 */
export const decodeMessage = <Name extends string, B>(message: Message<Name, B>, payload: Uint8Array): Result.Result<B, DecodeError> =>
  decodeWith(message, "message", message.body, payload)

/**
 * Encodes a call's arguments.
 *
 * @since 0.2.0
 * @category encoding
 */
export const encodeArgs = <Name extends string, A, R>(procedure: Procedure<Name, A, R>, args: A): Uint8Array => S.encode(procedure.args, args)

/**
 * Encodes a call's reply (the server's side).
 *
 * @since 0.2.0
 * @category encoding
 */
export const encodeReply = <Name extends string, A, R>(procedure: Procedure<Name, A, R>, ret: R): Uint8Array => S.encode(procedure.ret, ret)

/**
 * Encodes an event message's body (the server's side).
 *
 * @since 0.2.0
 * @category encoding
 */
export const encodeMessage = <Name extends string, B>(message: Message<Name, B>, body: B): Uint8Array => S.encode(message.body, body)
