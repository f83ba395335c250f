/**
 * The typed libvirt client: every call declared in `Procedures` as a method, domain lifecycle events and the
 * connection's close reasons as Streams, on one connection or on a reconnecting one; and the server's side, a
 * `Server.Handler` written against the same declarations.
 *
 * Contract:
 * - {@link call} encodes the arguments by declaration, calls, and decodes the reply: a reply that does not decode
 *   fails with `Procedures.DecodeError` naming the procedure and the byte offset; libvirt's error reply fails with
 *   `RemoteCallError`. Nothing throws. Calls share the connection's bound on calls in flight.
 * - {@link make} takes over a client's `frames` (one reader fans the events out; other frames are dropped).
 *   {@link fromReconnecting} follows a `Client.reconnecting` connection: calls wait for an open connection, and every
 *   live subscription is registered again on each new connection.
 * - A subscription registers when its Stream starts ({@link Libvirt.domainEvents}, {@link Libvirt.closeEvents}) or
 *   when its Effect runs ({@link Libvirt.registerDomainEvents}, {@link Libvirt.registerCloseEvents}: registered once
 *   it succeeds), and deregisters (at most 1 second, errors ignored) when its scope closes. Each subscriber has its own
 *   bounded backlog (`capacity`, default 256): when it is full the next event for that subscriber is dropped and
 *   counted ({@link Libvirt.dropped}); the connection and the other subscribers never wait for a slow one.
 * - A close event comes from the server's CONNECTION_CLOSED message or from the connection's own end (peer gone:
 *   `Eof`, keepalive: `Keepalive`, closed by us: `Client`, anything else: `Error`). On a single connection the
 *   Streams end after it ends; on a reconnecting one they go on.
 * - {@link handler} decodes a call's arguments by declaration (a payload that does not decode gets libvirt's RPC
 *   error reply) and encodes the typed reply; procedures without an implementation are left to the server's default.
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as Scope from "effect/Scope"
import * as Frame from "../wire/Frame.ts"
import * as Procedures from "../wire/Procedures.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import type * as Session from "../session/Session.ts"
import * as Client from "./Client.ts"
import * as Connection from "./Connection.ts"
import type * as Server from "./Server.ts"

// ---------------------------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------------------------

/**
 * Why a typed call failed: libvirt's error reply, a reply that does not decode, or the connection's refusal or end.
 *
 * @since 0.2.0
 * @category errors
 */
export type CallError =
  | Remote.RemoteCallError
  | Procedures.DecodeError
  | Session.NotAllowed
  | Connection.TooManyCalls
  | Connection.ConnectionClosed
  | Connection.ConnectionError
  | Client.GaveUp<unknown>

/**
 * Calls `procedure` with `args` on `connection` and decodes its reply.
 *
 * **Example** (The hostname)
 *
 * ```ts
 * const { hostname } = yield* Libvirt.call(client, Procedures.calls.ConnectGetHostname, undefined)
 * ```
 *
 * @since 0.2.0
 * @category calls
 */
export const call = <Name extends string, A, R>(
  connection: Connection.Connection,
  procedure: Procedures.Procedure<Name, A, R>,
  args: A
): Effect.Effect<R, CallError> =>
  Effect.suspend(() => connection.call(procedure.number, Procedures.encodeArgs(procedure, args))).pipe(
    Effect.flatMap((reply) => Effect.fromResult(Procedures.decodeReply(procedure, reply.payload)))
  )

/** One declared call as a method: no parameter when it takes no arguments. */
type MethodOf<P> = P extends Procedures.Procedure<string, infer A, infer R>
  ? [A] extends [void] ? () => Effect.Effect<R, CallError> : (args: A) => Effect.Effect<R, CallError>
  : never

/**
 * Every call of `Procedures.calls` as a method named after it in camelCase (`DomainLookupByName` →
 * `domainLookupByName`).
 *
 * @since 0.2.0
 * @category models
 */
export type Methods = {
  readonly [K in keyof Procedures.Calls as Uncapitalize<K & string>]: MethodOf<Procedures.Calls[K]>
}

const methods = (connection: Effect.Effect<Connection.Connection, Client.GaveUp<unknown>>): Methods =>
  Object.fromEntries(
    Object.values(Procedures.calls).map((procedure) => [
      procedure.name.charAt(0).toLowerCase() + procedure.name.slice(1),
      (args?: unknown) => Effect.flatMap(connection, (c) => call(c, procedure as Procedures.Procedure<string, unknown, unknown>, args))
    ])
  ) as unknown as Methods

// ---------------------------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------------------------

/**
 * The name of a lifecycle event type (`virDomainEventType`).
 *
 * @since 0.2.0
 * @category models
 */
export type LifecycleType = keyof typeof Procedures.LifecycleEvent | "Unknown"

/**
 * A domain lifecycle event: the domain, the event's type by name and number, and its detail (`virDomainEvent*DetailType`).
 *
 * @since 0.2.0
 * @category models
 */
export interface LifecycleEvent {
  readonly domain: Procedures.Domain
  readonly type: LifecycleType
  readonly event: number
  readonly detail: number
}

/**
 * The name of a close reason (`virConnectCloseReason`).
 *
 * @since 0.2.0
 * @category models
 */
export type CloseReasonName = keyof typeof Procedures.CloseReason | "Unknown"

/**
 * Why a connection closed: the reason by name and number, and whether the server said so (`server`) or the
 * connection's own end tells (`connection`).
 *
 * @since 0.2.0
 * @category models
 */
export interface CloseEvent {
  readonly reason: CloseReasonName
  readonly code: number
  readonly source: "server" | "connection"
}

/**
 * Options of a subscription: a domain to watch (default: every domain) and the subscriber's backlog.
 *
 * @since 0.2.0
 * @category models
 */
export interface EventOptions {
  readonly domain?: Procedures.Domain | undefined
  /** Events waiting for this subscriber; past it the next one is dropped and counted. Default 256. */
  readonly capacity?: number | undefined
}

const nameIn = <T extends Record<string, number>>(table: T, code: number): keyof T | "Unknown" =>
  (Object.keys(table).find((k) => table[k] === code) as keyof T | undefined) ?? "Unknown"

type LifecycleBody = Procedures.BodyOf<typeof Procedures.messages.DomainEventCallbackLifecycle>

const lifecycleEvent = (body: LifecycleBody): LifecycleEvent => ({
  domain: body.dom,
  type: nameIn(Procedures.LifecycleEvent, body.event),
  event: body.event,
  detail: body.detail
})

const closeEvent = (code: number, source: CloseEvent["source"]): CloseEvent => ({ reason: nameIn(Procedures.CloseReason, code), code, source })

/** The close reason libvirt's client reports for a connection that ended this way. */
const reasonOf = (exit: Exit.Exit<void, Connection.ConnectionError>): number => {
  if (Exit.isSuccess(exit)) return Procedures.CloseReason.Client
  const error = exit.cause.reasons.find(Cause.isFailReason)?.error
  return error?._tag === "PeerClosed"
    ? Procedures.CloseReason.Eof
    : error?._tag === "KeepaliveTimeout"
    ? Procedures.CloseReason.Keepalive
    : Procedures.CloseReason.Error
}

/** One subscriber: what it watches and its own backlog. */
interface Subscriber {
  readonly kind: "lifecycle" | "close"
  readonly domain: Procedures.Domain | undefined
  readonly queue: Queue.Queue<LifecycleEvent | CloseEvent, Cause.Done | CallError>
}

/** What one connection knows of the subscribers: their callback IDs there, and early events. */
interface Attachment {
  readonly connection: Connection.Connection
  readonly byId: Map<number, Subscriber>
  readonly registered: Map<Subscriber, number>
  /** Lifecycle events whose callback ID is not known yet (the reply to the registration is still on its way). */
  readonly early: Array<LifecycleBody>
  /** Callback IDs of subscriptions gone from this connection (the latest {@link RETIRED_MAX}): their events still in
   * flight are dropped instead of being held as early ones. */
  readonly retired: Set<number>
  closeRegistered: boolean
  ended: boolean
}

const EARLY_MAX = 64
const RETIRED_MAX = 1024

/** Forgets a callback ID's subscriber and remembers the ID as retired (the oldest retired ID is forgotten first). */
const retire = (attachment: Attachment, id: number): void => {
  attachment.byId.delete(id)
  attachment.retired.add(id)
  if (attachment.retired.size > RETIRED_MAX) attachment.retired.delete(attachment.retired.values().next().value!)
}
const DEREGISTER_TIMEOUT = "1 second"

/** The shared state of a typed client. */
interface Engine {
  readonly lock: Semaphore.Semaphore
  readonly scope: Scope.Scope
  /** A single connection: subscriptions end with it. */
  readonly single: boolean
  readonly subscribers: Set<Subscriber>
  current: Attachment | undefined
  dropped: number
}

const deliver = (engine: Engine, subscriber: Subscriber, event: LifecycleEvent | CloseEvent): void => {
  if (!Queue.offerUnsafe(subscriber.queue, event)) engine.dropped++
}

const onLifecycle = (engine: Engine, attachment: Attachment, body: LifecycleBody): void => {
  const subscriber = attachment.byId.get(body.callbackId)
  if (subscriber !== undefined) return deliver(engine, subscriber, lifecycleEvent(body))
  if (attachment.retired.has(body.callbackId)) return // a retired subscription's event, still in flight
  if (attachment.early.length < EARLY_MAX) attachment.early.push(body)
  else engine.dropped++
}

const toCloseSubscribers = (engine: Engine, event: CloseEvent): void => {
  for (const s of engine.subscribers) if (s.kind === "close") deliver(engine, s, event)
}

/** Routes one frame from the connection: the events it knows, by callback ID; anything else is dropped. */
const dispatch = (engine: Engine, attachment: Attachment, frame: Frame.Frame): void => {
  const h = frame.header
  if (h.prog !== Remote.REMOTE_PROGRAM || h.type !== Frame.MessageType.Message) return
  if (h.proc === Procedures.messages.DomainEventCallbackLifecycle.number) {
    const body = Procedures.decodeMessage(Procedures.messages.DomainEventCallbackLifecycle, frame.payload)
    if (Result.isSuccess(body)) onLifecycle(engine, attachment, body.success)
  } else if (h.proc === Procedures.messages.ConnectEventConnectionClosed.number) {
    const body = Procedures.decodeMessage(Procedures.messages.ConnectEventConnectionClosed, frame.payload)
    if (Result.isSuccess(body)) toCloseSubscribers(engine, closeEvent(body.success.reason, "server"))
  }
}

/** The connection ended: its close event, and on a single connection the end of every Stream. */
const ended = (engine: Engine, attachment: Attachment) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(attachment.connection.closed)
    attachment.ended = true
    if (engine.current === attachment) engine.current = undefined
    toCloseSubscribers(engine, closeEvent(reasonOf(exit), "connection"))
    if (engine.single) { for (const s of engine.subscribers) Queue.endUnsafe(s.queue) }
  })

/** Registers `subscriber` on one connection: a callback ID for lifecycle events, the close callback once. */
const registerOn = (attachment: Attachment, subscriber: Subscriber): Effect.Effect<void, CallError> =>
  Effect.gen(function*() {
    if (subscriber.kind === "close") {
      if (!attachment.closeRegistered) yield* call(attachment.connection, Procedures.calls.ConnectRegisterCloseCallback, undefined)
      attachment.closeRegistered = true
      attachment.registered.set(subscriber, 0)
      return
    }
    const args = { eventId: Procedures.DomainEventId.Lifecycle, dom: subscriber.domain }
    const { callbackId } = yield* call(attachment.connection, Procedures.calls.ConnectDomainEventCallbackRegisterAny, args)
    attachment.byId.set(callbackId, subscriber)
    attachment.registered.set(subscriber, callbackId)
    const early = attachment.early.splice(0)
    for (const body of early) {
      if (body.callbackId === callbackId) Queue.offerUnsafe(subscriber.queue, lifecycleEvent(body))
      else attachment.early.push(body)
    }
  })

/** Undoes {@link registerOn} on a live connection; errors and a silent peer (past 1 second) are ignored. */
const deregister = (attachment: Attachment, subscriber: Subscriber): Effect.Effect<void> =>
  Effect.gen(function*() {
    const id = attachment.registered.get(subscriber)
    if (id === undefined) return
    attachment.registered.delete(subscriber)
    if (subscriber.kind === "lifecycle") retire(attachment, id)
    if (attachment.ended) return
    if (subscriber.kind === "lifecycle") {
      return yield* call(attachment.connection, Procedures.calls.ConnectDomainEventCallbackDeregisterAny, { callbackId: id })
    }
    const others = [...attachment.registered.keys()].some((s) => s.kind === "close")
    if (others || !attachment.closeRegistered) return
    attachment.closeRegistered = false
    yield* call(attachment.connection, Procedures.calls.ConnectUnregisterCloseCallback, undefined)
  }).pipe(Effect.timeout(DEREGISTER_TIMEOUT), Effect.ignore)

/** Starts using `connection`: its reader, and every live subscription registered on it. */
const attach = (engine: Engine, connection: Connection.Connection): Effect.Effect<void> =>
  engine.lock.withPermit(Effect.gen(function*() {
    const attachment: Attachment = { connection, byId: new Map(), registered: new Map(), early: [], retired: new Set(), closeRegistered: false, ended: false }
    engine.current = attachment
    yield* connection.frames.pipe(
      Stream.runForEach((frame) => Effect.sync(() => dispatch(engine, attachment, frame))),
      Effect.andThen(ended(engine, attachment)),
      Effect.forkIn(engine.scope)
    )
    for (const subscriber of engine.subscribers) yield* reregister(attachment, subscriber)
  }))

/** Registers again on a new connection; a refusal on a live connection ends that subscriber's Stream with it. */
const reregister = (attachment: Attachment, subscriber: Subscriber): Effect.Effect<void> =>
  registerOn(attachment, subscriber).pipe(
    Effect.catch((error) => Effect.flatMap(attachment.connection.status, (status) => (status.alive ? Queue.fail(subscriber.queue, error) : Effect.void))),
    Effect.asVoid
  )

/** Registers one subscriber in the current scope (deregistered when it closes); its events as a Stream. */
const register = <A extends LifecycleEvent | CloseEvent>(
  engine: Engine,
  kind: Subscriber["kind"],
  options: EventOptions
): Effect.Effect<Stream.Stream<A, CallError>, CallError, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.dropping<LifecycleEvent | CloseEvent, Cause.Done | CallError>(options.capacity ?? 256)
    const subscriber: Subscriber = { kind, domain: options.domain, queue }
    yield* Effect.acquireRelease(
      engine.lock.withPermit(Effect.gen(function*() {
        if (engine.single && engine.current === undefined) return yield* new Connection.ConnectionClosed()
        engine.subscribers.add(subscriber)
        if (engine.current !== undefined) {
          yield* registerOn(engine.current, subscriber).pipe(Effect.onError(() => Effect.sync(() => engine.subscribers.delete(subscriber))))
        }
      })),
      () =>
        engine.lock.withPermit(Effect.suspend(() => {
          engine.subscribers.delete(subscriber)
          return engine.current === undefined ? Effect.void : deregister(engine.current, subscriber)
        }))
    )
    return Stream.fromQueue(queue) as Stream.Stream<A, CallError>
  })

// ---------------------------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------------------------

/**
 * The typed client: a method per declared call, {@link call} for any declaration, and events as Streams.
 *
 * @since 0.2.0
 * @category models
 */
export interface Libvirt extends Methods {
  /** Calls any declared procedure, also one declared outside `Procedures.calls`. */
  readonly call: <Name extends string, A, R>(procedure: Procedures.Procedure<Name, A, R>, args: A) => Effect.Effect<R, CallError>
  /** virConnectIsAlive: whether a connection is open now (no call is made). */
  readonly isAlive: Effect.Effect<boolean>
  /**
   * Domain lifecycle events (of `options.domain`, or of every domain), registered when the Stream starts and
   * deregistered when it ends.
   */
  readonly domainEvents: (options?: EventOptions) => Stream.Stream<LifecycleEvent, CallError>
  /**
   * Registers for domain lifecycle events in the current scope: once this succeeds the daemon sends them (events
   * of a call made afterwards are not missed); deregistered when the scope closes.
   */
  readonly registerDomainEvents: (options?: EventOptions) => Effect.Effect<Stream.Stream<LifecycleEvent, CallError>, CallError, Scope.Scope>
  /** Why connections closed, while the Stream runs (registers libvirt's close callback). */
  readonly closeEvents: (options?: Pick<EventOptions, "capacity">) => Stream.Stream<CloseEvent, CallError>
  /** Registers libvirt's close callback in the current scope, as {@link Libvirt.registerDomainEvents} does. */
  readonly registerCloseEvents: (options?: Pick<EventOptions, "capacity">) => Effect.Effect<Stream.Stream<CloseEvent, CallError>, CallError, Scope.Scope>
  /** Events dropped so far because a subscriber's backlog was full. */
  readonly dropped: Effect.Effect<number>
}

const build = (engine: Engine, connection: Effect.Effect<Connection.Connection, Client.GaveUp<unknown>>): Libvirt => ({
  ...methods(connection),
  call: (procedure, args) => Effect.flatMap(connection, (c) => call(c, procedure, args)),
  isAlive: Effect.suspend(() => {
    const current = engine.current
    return current === undefined || current.ended ? Effect.succeed(false) : Effect.map(current.connection.status, (s) => s.alive)
  }),
  domainEvents: (options = {}) => Stream.unwrap(register(engine, "lifecycle", options)),
  registerDomainEvents: (options = {}) => register(engine, "lifecycle", options),
  closeEvents: (options = {}) => Stream.unwrap(register(engine, "close", options)),
  registerCloseEvents: (options = {}) => register(engine, "close", options),
  dropped: Effect.sync(() => engine.dropped)
})

const engineIn = (single: boolean): Effect.Effect<Engine, never, Scope.Scope> =>
  Effect.gen(function*() {
    const lock = yield* Semaphore.make(1)
    const scope = yield* Effect.scope
    return { lock, scope, single, subscribers: new Set(), current: undefined, dropped: 0 }
  })

/**
 * The typed client on one open connection. It reads the connection's `frames` from now on (for the events) until
 * the scope closes.
 *
 * **Example** (Hostname, domains and their events)
 *
 * ```ts
 * const libvirt = yield* Libvirt.make(client)
 * const { hostname } = yield* libvirt.connectGetHostname()
 * const { domains } = yield* libvirt.connectListAllDomains({ needResults: 1, flags: 0 })
 * const events = libvirt.domainEvents().pipe(Stream.take(2), Stream.runCollect)
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (connection: Connection.Connection): Effect.Effect<Libvirt, never, Scope.Scope> =>
  Effect.gen(function*() {
    const engine = yield* engineIn(true)
    yield* attach(engine, connection)
    return build(engine, Effect.succeed(connection))
  })

/**
 * The typed client on a connection kept up by `Client.reconnecting`: calls wait for an open connection on which
 * every subscription is registered again (so a call's events are not missed); events sent while no connection was
 * open are lost. Once the reconnecting client gave up, calls fail with `Client.GaveUp`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromReconnecting = <E>(kept: Client.Reconnecting<E>): Effect.Effect<Libvirt, never, Scope.Scope> =>
  Effect.gen(function*() {
    const engine = yield* engineIn(false)
    // the last connection whose subscriptions are registered again: calls wait for it, so no call's event is missed
    const attached = yield* SubscriptionRef.make<Connection.Connection | undefined>(undefined)
    yield* kept.changes.pipe(
      Stream.runForEach((state) =>
        state._tag === "Open" && engine.current?.connection !== state.client
          ? attach(engine, state.client).pipe(Effect.andThen(SubscriptionRef.set(attached, state.client)))
          : Effect.void
      ),
      Effect.forkScoped
    )
    const ready = Effect.flatMap(kept.client, (client) =>
      SubscriptionRef.changes(attached).pipe(Stream.filter((c) => c === client), Stream.runHead, Effect.as(client as Connection.Connection)))
    return build(engine, ready)
  })

/**
 * The typed client service.
 *
 * @since 0.2.0
 * @category services
 */
export class LibvirtClient extends Context.Service<LibvirtClient, Libvirt>()("effect-keepalive/Libvirt") {}

/**
 * The typed client on the `Client.KeepaliveClient` in context.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<LibvirtClient, never, Client.KeepaliveClient> = Layer.effect(
  LibvirtClient,
  Effect.flatMap(Client.KeepaliveClient, make)
)

// ---------------------------------------------------------------------------------------------------------------
// The server's side
// ---------------------------------------------------------------------------------------------------------------

/**
 * Implementations of declared calls, by name: each receives the decoded arguments and the connection, and answers
 * the typed reply or libvirt's error.
 *
 * @since 0.2.0
 * @category models
 */
export type Implementations = {
  readonly [K in keyof Procedures.Calls]?: (
    args: Procedures.ArgsOf<Procedures.Calls[K]>,
    connection: Connection.Connection
  ) => Effect.Effect<Procedures.RetOf<Procedures.Calls[K]>, Remote.RemoteCallError>
}

/**
 * A `Server.Handler` from typed implementations. Arguments that do not decode are answered with libvirt's RPC
 * error naming the procedure and the offset; a procedure without an implementation is left to the server.
 *
 * **Example** (A server that knows its hostname)
 *
 * ```ts
 * Server.handleSocket(socket, { handler: Libvirt.handler({ ConnectGetHostname: () => Effect.succeed({ hostname: "h" }) }) })
 * ```
 *
 * @since 0.2.0
 * @category server
 */
export const handler = (implementations: Implementations): Server.Handler => (frame, connection) => {
  const procedure = Procedures.callOf(frame.header.proc)
  const implementation = procedure === undefined ? undefined : implementations[procedure.name]
  if (procedure === undefined || implementation === undefined) return Effect.succeed(undefined)
  const args = Procedures.decodeArgs(procedure as Procedures.Procedure<string, unknown, unknown>, frame.payload)
  if (Result.isFailure(args)) {
    return Effect.fail(
      new Remote.RemoteCallError({ proc: procedure.number, code: Remote.ErrorCode.Rpc, domain: Remote.ErrorDomain.Rpc, text: args.failure.message })
    )
  }
  const run = implementation as (args: unknown, connection: Connection.Connection) => Effect.Effect<unknown, Remote.RemoteCallError>
  return Effect.map(run(args.success, connection), (ret) => Procedures.encodeReply(procedure as Procedures.Procedure<string, unknown, unknown>, ret))
}

/**
 * Sends an event message (type MESSAGE, serial 0) on a server's connection.
 *
 * @since 0.2.0
 * @category server
 */
export const sendEvent = <Name extends string, B>(
  connection: Connection.Connection,
  message: Procedures.Message<Name, B>,
  body: B
): Effect.Effect<void, Connection.ConnectionClosed> =>
  connection.send(Frame.make({
    prog: Remote.REMOTE_PROGRAM,
    vers: Remote.REMOTE_VERSION,
    proc: message.number,
    type: Frame.MessageType.Message,
    serial: 0,
    status: Frame.MessageStatus.Ok
  }, Procedures.encodeMessage(message, body)))
