/**
 * `keepalive proxy`: seed 001's keepalive policy and this library's bounds in front of a real libvirt daemon, with
 * no change to the daemon.
 *
 * Contract:
 * - Each client gets our hardened server side ({@link Session} with `delegateOpen`): the handshake, the policy
 *   (`required` refuses a client that did not advertise keepalive, before anything reaches the daemon), the limits
 *   (max clients, handshake timeout, partial-frame budget, output high-water mark, flood policing) and keepalive at
 *   the proxy's own interval and count.
 * - The client's CONNECT_OPEN opens one upstream connection to the daemon the upstream URI names ({@link Dial}),
 *   with the client's connection name (the URI's when the client sent none) and flags; the client gets the
 *   daemon's answer with its own serial. A daemon that cannot be reached gives a libvirt error reply instead.
 * - Once open, every remote-program frame is relayed as is, both ways: calls, replies, events and stream frames,
 *   serials untouched. Keepalive is separate on each leg: the proxy answers and sends PINGs on both, and neither
 *   side's keepalive frames cross.
 * - A client that ends (closes, dies, is declared dead, breaks a limit) closes its upstream connection (CONNECT_CLOSE,
 *   then the socket). An upstream that ends closes the client with libvirt's error: each call in flight gets an error
 *   reply (`internal error: connection closed due to keepalive timeout` when the daemon stopped answering), a client
 *   gets CONNECT_EVENT_CONNECTION_CLOSED with the reason (libvirt's client hands it to its close callback; ours
 *   names it in `PeerClosed.closeReason`), then the socket closes.
 * - Bounded: per client at most `maxClientRequests` calls in flight upstream, below the daemon's own limit
 *   (`upstreamMaxClientRequests` − 1), so libvirtd never stops reading a daemon leg and never kills it for PONGs
 *   it did not read; the client's other calls wait in the proxy, its PINGs answered meanwhile. `maxPendingFrames`
 *   frames wait in each direction, and each leg's output bounded by its high-water mark (past which the proxy stops reading the
 *   other leg). Bad options fail with a typed {@link InvalidProxyOption} naming the option before anything listens.
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import type * as Duration from "effect/Duration"
import type * as FileSystem from "effect/FileSystem"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as NetAddress from "effect/net/NetAddress"
import * as Socket from "effect/socket/Socket"
import type * as SocketServer from "effect/socket/SocketServer"
import type * as Keepalive from "../core/Keepalive.ts"
import * as Client from "../runtime/Client.ts"
import * as Connection from "../runtime/Connection.ts"
import * as Dial from "../runtime/Dial.ts"
import type * as Policing from "../runtime/Policing.ts"
import * as Reader from "../runtime/Reader.ts"
import * as Durations from "../runtime/Durations.ts"
import * as Server from "../runtime/Server.ts"
import * as Uri from "../runtime/Uri.ts"
import * as Session from "../session/Session.ts"
import * as Frame from "../wire/Frame.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import * as Xdr from "../wire/Xdr.ts"

// ---------------------------------------------------------------------------------------------------------------
// Options and errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * Options of a proxy. Times are milliseconds.
 *
 * @since 0.2.0
 * @category models
 */
export interface ProxyOptions {
  /** The daemon behind the proxy, as a libvirt URI (`test+tcp://127.0.0.1:16509/default`, `qemu:///system`, …). */
  readonly upstream: string
  /** The client leg's keepalive: interval (a duration; a plain number is ms), count and policy (seed 001). */
  readonly keepalive: Server.KeepaliveOptions
  /** The upstream leg's keepalive (our PINGs to the daemon); default: the client leg's interval and count. */
  readonly upstreamKeepalive?: { readonly interval: Duration.Input; readonly count: number }
  /**
   * The upstream open timeout: how long dialling the daemon, TLS and its open handshake may take (default 30 s; a
   * plain number is ms). Past it the client's CONNECT_OPEN gets libvirt's error naming the phase the open was stuck
   * in (`OpenTimeout`).
   */
  readonly upstreamTimeout?: Duration.Input
  /** Dialling options for the upstream URI (certificates, ssh options). */
  readonly dial?: Dial.Options
  /** Clients served at once; more are closed at once (default libvirtd's 5000). */
  readonly maxClients?: number
  /**
   * The daemon's max_client_requests (default libvirtd's 5). At that many calls in flight libvirtd stops reading
   * the connection, PONGs included, and later kills it for keepalive; so the proxy keeps at most one less in flight
   * on each daemon leg, and the rest wait in the proxy.
   */
  readonly upstreamMaxClientRequests?: number
  /** Calls of one client in flight upstream at once (default and at most `upstreamMaxClientRequests` − 1). */
  readonly maxClientRequests?: number
  /**
   * Frames waiting to be relayed, per client and direction (default 256): calls beyond those in flight wait here.
   * Past it the proxy stops reading that leg, with that leg's keepalive paused (see `Connection.Options`).
   */
  readonly maxPendingFrames?: number
  /**
   * A client that sends no CONNECT_OPEN, or whose open is not done, within this time is closed (default 60 s; a
   * plain number is ms; 0 turns it off).
   */
  readonly handshakeTimeout?: Duration.Input
  /** Bytes of partial frames buffered across all clients (default 256 MiB). */
  readonly maxBufferedBytes?: number
  /** Unsent output per client before the proxy stops reading for it (default 1 MiB). */
  readonly maxQueuedBytes?: number
  /** Inbound flood policing on the client leg (default `Policing.defaults`). */
  readonly policing?: Policing.FramePolicing
  /** Called with every event (for logs and tests). */
  readonly onEvent?: (event: ProxyEvent) => Effect.Effect<void>
}

/**
 * A proxy option out of range.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidProxyOption extends Data.TaggedError("InvalidProxyOption")<{
  readonly option: string
  readonly value: string
  readonly expected: string
}> {
  override get message(): string {
    return `invalid proxy option ${this.option} = ${this.value}: expected ${this.expected}`
  }
}

/**
 * Why a proxy could not start.
 *
 * @since 0.2.0
 * @category errors
 */
export type ProxyError =
  | InvalidProxyOption
  | Uri.UriError
  | Keepalive.InvalidKeepaliveConfig
  | Session.InvalidPolicy
  | Server.ListenFailed
  | SocketServer.SocketServerError

/**
 * What the proxy reports. `client` numbers the accepted connections from 1.
 *
 * - `Opened`: the daemon accepted the client's CONNECT_OPEN; `advertised` says whether the client advertised
 *   keepalive, `upstreamKeepalive` whether the daemon supports it.
 * - `OpenFailed`: the upstream open failed; the client got `error` as its CONNECT_OPEN reply.
 * - `Ended`: the client's connection ended; `by` says which leg ended first and `reason` why; `relayed` counts
 *   the frames relayed each way.
 *
 * @since 0.2.0
 * @category models
 */
export type ProxyEvent =
  | { readonly _tag: "Accepted"; readonly client: number }
  | { readonly _tag: "Rejected"; readonly reason: string }
  | {
    readonly _tag: "Opened"
    readonly client: number
    readonly name: string | undefined
    readonly flags: number
    readonly advertised: boolean
    readonly upstreamKeepalive: boolean
  }
  | { readonly _tag: "OpenFailed"; readonly client: number; readonly name: string | undefined; readonly error: string }
  | {
    readonly _tag: "Ended"
    readonly client: number
    readonly by: "client" | "upstream"
    readonly reason: string
    /** The error that ended the leg that ended first; undefined for an orderly close. */
    readonly error: Connection.ConnectionError | undefined
    readonly relayed: { readonly up: number; readonly down: number }
  }

/**
 * The defaults of the proxy's own limits (the others are the server's, {@link Server.defaultLimits}).
 *
 * @since 0.2.0
 * @category constants
 */
export const defaults = { upstreamTimeout: 30_000, maxPendingFrames: 256 } as const

/**
 * Calls of one client in flight on its daemon leg: below the daemon's max_client_requests, so the daemon never
 * stops reading the leg (at least one, where the daemon allows only one and cannot be shielded).
 *
 * @since 0.2.0
 * @category options
 */
export const callsInFlight = (options: Pick<ProxyOptions, "maxClientRequests" | "upstreamMaxClientRequests">): number => {
  const below = Math.max(1, (options.upstreamMaxClientRequests ?? Server.defaultLimits.maxClientRequests) - 1)
  return Math.min(options.maxClientRequests ?? below, below)
}

const positive = (option: string, value: number | undefined, min: number): Result.Result<void, InvalidProxyOption> =>
  value === undefined || (Number.isInteger(value) && value >= min)
    ? Result.succeed(undefined)
    : Result.fail(new InvalidProxyOption({ option, value: String(value), expected: `a whole number of at least ${min}` }))

/** The options with every duration in milliseconds, as the relay uses them. */
interface Settled extends Omit<ProxyOptions, "keepalive" | "upstreamKeepalive" | "upstreamTimeout" | "handshakeTimeout"> {
  readonly keepalive: Session.ServerOptions
  readonly upstreamKeepalive?: { readonly interval: number; readonly count: number }
  readonly upstreamTimeout?: number
  readonly handshakeTimeout?: number
}

const millis = (option: string, input: Duration.Input): Result.Result<number, InvalidProxyOption> => {
  const ms = Durations.toMillis(input)
  return ms === undefined
    ? Result.fail(new InvalidProxyOption({ option, value: String(input), expected: "a duration (a plain number is ms)" }))
    : Result.succeed(ms)
}

const settle = (options: ProxyOptions): Result.Result<Settled, InvalidProxyOption> =>
  Result.gen(function*() {
    const { handshakeTimeout, upstreamKeepalive, upstreamTimeout, ...rest } = options
    return {
      ...rest,
      keepalive: { ...options.keepalive, interval: yield* millis("keepalive.interval", options.keepalive.interval) },
      ...(upstreamKeepalive === undefined
        ? {}
        : { upstreamKeepalive: { count: upstreamKeepalive.count, interval: yield* millis("upstreamKeepalive.interval", upstreamKeepalive.interval) } }),
      ...(upstreamTimeout === undefined ? {} : { upstreamTimeout: yield* millis("upstreamTimeout", upstreamTimeout) }),
      ...(handshakeTimeout === undefined ? {} : { handshakeTimeout: yield* millis("handshakeTimeout", handshakeTimeout) })
    }
  })

/** The upstream URI and the options in milliseconds, or the first invalid option. */
const check = (options: ProxyOptions): Result.Result<{ readonly uri: Uri.Uri; readonly settled: Settled }, ProxyError> =>
  Result.gen(function*() {
    const uri = yield* Uri.parse(options.upstream)
    const settled = yield* settle(options)
    yield* Session.validateServerOptions(settled.keepalive)
    if (settled.upstreamKeepalive !== undefined) {
      yield* Session.validateServerOptions({ ...settled.upstreamKeepalive, policy: "disabled" })
    }
    yield* positive("upstreamTimeout", settled.upstreamTimeout, 1)
    yield* positive("maxClients", options.maxClients, 1)
    yield* positive("maxClientRequests", options.maxClientRequests, 1)
    yield* positive("upstreamMaxClientRequests", options.upstreamMaxClientRequests, 1)
    yield* positive("maxPendingFrames", options.maxPendingFrames, 1)
    yield* positive("handshakeTimeout", settled.handshakeTimeout, 0)
    yield* positive("maxBufferedBytes", options.maxBufferedBytes, Frame.MIN_FRAME_SIZE)
    yield* positive("maxQueuedBytes", options.maxQueuedBytes, Frame.MIN_FRAME_SIZE)
    return { uri, settled }
  })

/**
 * Checks the options: the URI parses, every duration is one (a plain number is ms), the keepalive settings are
 * valid on both legs, every limit is a whole number in range.
 *
 * @since 0.2.0
 * @category validation
 */
export const validate = (options: ProxyOptions): Result.Result<Uri.Uri, ProxyError> => Result.map(check(options), ({ uri }) => uri)

// ---------------------------------------------------------------------------------------------------------------
// libvirt's errors toward the client
// ---------------------------------------------------------------------------------------------------------------

/** VIR_ERR_SYSTEM_ERROR: libvirt's code for a broken or unreachable connection. */
const SYSTEM_ERROR = 38
/** REMOTE_PROC_CONNECT_EVENT_CONNECTION_CLOSED: libvirtd's event when the connection behind it closed. */
const EVENT_CONNECTION_CLOSED = 362
/** VIR_CONNECT_CLOSE_REASON_*. */
const CloseReason = { Error: 0, Eof: 1, Keepalive: 2 } as const

/** What a libvirt client reports when its connection ends this way: error code, message, close-callback reason. */
const upstreamLoss = (error: Connection.ConnectionError | undefined) => {
  if (error?._tag === "KeepaliveTimeout") {
    return { code: Remote.ErrorCode.InternalError, detail: "connection closed due to keepalive timeout", reason: CloseReason.Keepalive }
  }
  if (error === undefined || error._tag === "PeerClosed") {
    return { code: SYSTEM_ERROR, detail: "End of file while reading data: Input/output error", reason: CloseReason.Eof }
  }
  return { code: SYSTEM_ERROR, detail: error.message, reason: CloseReason.Error }
}

const errorReplyTo = (proc: number, serial: number, code: number, detail: string): Frame.Frame =>
  Remote.errorReply({ proc, serial }, Remote.libvirtError(code, Remote.ErrorDomain.Rpc, detail))

const closedEvent = (reason: number): Frame.Frame =>
  Frame.make(
    {
      prog: Remote.REMOTE_PROGRAM,
      vers: Remote.REMOTE_VERSION,
      proc: EVENT_CONNECTION_CLOSED,
      type: Frame.MessageType.Message,
      serial: 0,
      status: Frame.MessageStatus.Ok
    },
    Xdr.encode((w) => w.int(reason))
  )

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

// ---------------------------------------------------------------------------------------------------------------
// One client
// ---------------------------------------------------------------------------------------------------------------

/** What one client's relay needs from the proxy. */
interface Context {
  readonly uri: Uri.Uri
  readonly options: Settled
  readonly id: number
  readonly emit: (event: ProxyEvent) => Effect.Effect<void>
}

/** The open upstream of one client, and the calls relayed to it still waiting for their reply. */
interface Leg {
  readonly upstream: Client.Client
  /** The procedures of the calls in flight, by serial (a client may reuse a serial: each call takes its permit). */
  readonly inFlight: Map<number, Array<number>>
  readonly permits: Semaphore.Semaphore
  closeCallback: boolean
  /** Set as soon as the relay saw the daemon's leg end. */
  upstreamEnded: boolean
  up: number
  down: number
}

type Services = FileSystem.FileSystem | ChildProcessSpawner

/** Opens the upstream for a CONNECT_OPEN; the raw reply of the daemon is kept for the client. */
const openUpstream = (ctx: Context, args: Remote.ConnectOpenArgs, scope: Scope.Scope) =>
  Effect.gen(function*() {
    let openReply: Frame.Frame | undefined
    const trace: Connection.Options["trace"] = (e) => {
      if (
        openReply === undefined && e.kind === "receive" && e.frame.header.proc === Remote.RemoteProc.ConnectOpen &&
        e.frame.header.type === Frame.MessageType.Reply
      ) {
        openReply = e.frame
      }
    }
    const openTimeout = ctx.options.upstreamTimeout ?? defaults.upstreamTimeout
    const attempt = yield* Effect.exit(
      // the daemon's frames are relayed, never dropped: a client that does not read them stops our reading them
      Dial.connect(ctx.uri, {
        ...ctx.options.dial,
        name: args.name,
        flags: args.flags,
        trace,
        openTimeout,
        slowConsumer: "pause",
        maxPendingFrames: ctx.options.maxPendingFrames ?? defaults.maxPendingFrames
      }).pipe(Scope.provide(scope))
    )
    return { attempt, openReply }
  })

/** Answers the client's CONNECT_OPEN: the daemon's own reply when it gave one, else a libvirt error naming why. */
const openAnswer = (call: Frame.Frame, uri: Uri.Uri, attempt: Exit.Exit<unknown, unknown>, openReply: Frame.Frame | undefined): Frame.Frame => {
  const serial = call.header.serial
  if (openReply !== undefined) return Frame.make(Remote.replyHeader(Remote.RemoteProc.ConnectOpen, serial, openReply.header.status), openReply.payload)
  if (Exit.isSuccess(attempt)) return Frame.make(Remote.replyHeader(Remote.RemoteProc.ConnectOpen, serial))
  const why = describe(Cause.squash(attempt.cause))
  return errorReplyTo(Remote.RemoteProc.ConnectOpen, serial, SYSTEM_ERROR, `unable to open the upstream connection to ${uri.text}: ${why}`)
}

/** Handles the client's CONNECT_OPEN; the open leg on success. */
const open = (ctx: Context, client: Connection.Connection, call: Frame.Frame, scope: Scope.Scope): Effect.Effect<Leg | undefined, never, Services> =>
  Effect.gen(function*() {
    const args = Remote.decodeConnectOpenArgs(call.payload)
    // the session decoded the same payload before delivering it
    if (Result.isFailure(args)) return undefined
    const attemptScope = yield* Scope.fork(scope, "sequential")
    const { attempt, openReply } = yield* openUpstream(ctx, args.success, attemptScope)
    const answer = openAnswer(call, ctx.uri, attempt, openReply)
    if (Exit.isFailure(attempt)) {
      yield* Scope.close(attemptScope, Exit.void)
      yield* ctx.emit({ _tag: "OpenFailed", client: ctx.id, name: args.success.name, error: describe(Cause.squash(attempt.cause)) })
      yield* client.send(answer).pipe(Effect.ignore)
      return undefined
    }
    const upstream = attempt.value
    const ka = ctx.options.upstreamKeepalive ?? ctx.options.keepalive
    if (upstream.serverKeepalive && ka.interval > 0) yield* upstream.setKeepAlive(ka.interval, ka.count).pipe(Effect.ignore)
    yield* client.send(answer).pipe(Effect.ignore)
    const advertised = yield* client.opened.pipe(Effect.orElseSucceed(() => false))
    yield* ctx.emit({
      _tag: "Opened",
      client: ctx.id,
      name: args.success.name,
      flags: args.success.flags,
      advertised,
      upstreamKeepalive: upstream.serverKeepalive
    })
    const permits = yield* Semaphore.make(callsInFlight(ctx.options))
    return { upstream, inFlight: new Map(), permits, closeCallback: false, upstreamEnded: false, up: 0, down: 0 }
  })

/** Client → daemon: a call takes a permit (released by its reply) and is remembered until answered. */
const relayUp = (leg: Leg, frame: Frame.Frame) =>
  Effect.gen(function*() {
    const h = frame.header
    if (h.type === Frame.MessageType.Call) {
      yield* Semaphore.take(leg.permits, 1)
      const procs = leg.inFlight.get(h.serial)
      if (procs === undefined) leg.inFlight.set(h.serial, [h.proc])
      else procs.push(h.proc)
    }
    leg.up++
    yield* leg.upstream.send(frame).pipe(Effect.ignore)
  })

/** Daemon → client: a reply settles its call (and records the close callback's registration). */
const relayDown = (leg: Leg, client: Connection.Connection, frame: Frame.Frame) =>
  Effect.gen(function*() {
    const h = frame.header
    if (h.type === Frame.MessageType.Reply) {
      const procs = leg.inFlight.get(h.serial)
      const proc = procs?.shift()
      if (proc !== undefined) {
        if (procs!.length === 0) leg.inFlight.delete(h.serial)
        yield* Semaphore.release(leg.permits, 1)
        if (h.status === Frame.MessageStatus.Ok && proc === Remote.RemoteProc.ConnectRegisterCloseCallback) leg.closeCallback = true
        if (h.status === Frame.MessageStatus.Ok && proc === Remote.RemoteProc.ConnectUnregisterCloseCallback) leg.closeCallback = false
      }
    }
    leg.down++
    yield* client.send(frame)
  })

/** The daemon's leg ended: libvirt's error to each call in flight, the close event when registered, then close. */
const upstreamEnded = (leg: Leg, client: Connection.Connection) =>
  Effect.gen(function*() {
    leg.upstreamEnded = true
    const end = yield* Effect.exit(leg.upstream.closed)
    const error = Exit.isFailure(end) ? Cause.squash(end.cause) as Connection.ConnectionError : undefined
    const loss = upstreamLoss(error)
    const calls = [...leg.inFlight].flatMap(([serial, procs]) => procs.map((proc) => errorReplyTo(proc, serial, loss.code, loss.detail)))
    leg.inFlight.clear()
    // a relay waiting for a permit wakes, finds the daemon gone and ends with the client
    yield* Semaphore.releaseAll(leg.permits)
    // the close event carries the reason even to a client without a close callback (libvirt's client ignores it
    // then; ours names it in PeerClosed)
    const all = [...calls, closedEvent(loss.reason)]
    yield* Effect.forEach(all, (f) => client.send(f), { discard: true }).pipe(Effect.ignore)
    yield* client.close.pipe(Effect.ignore)
    return { reason: error === undefined ? "the daemon closed the connection" : error.message, error }
  })

/** Daemon → client until one leg ends; the daemon's end when it ended first. */
const pumpDown = (
  leg: Leg,
  client: Connection.Connection
): Effect.Effect<{ readonly reason: string; readonly error: Connection.ConnectionError | undefined } | undefined> =>
  leg.upstream.frames.pipe(
    Stream.runForEach((f) => relayDown(leg, client, f)),
    Effect.ignore,
    Effect.andThen(Effect.suspend(() => leg.upstream.status)),
    Effect.flatMap((s) => (s.alive ? Effect.succeed(undefined) : upstreamEnded(leg, client)))
  )

const isOpenCall = (f: Frame.Frame) => f.header.proc === Remote.RemoteProc.ConnectOpen && f.header.type === Frame.MessageType.Call

/**
 * Serves one accepted client socket until its connection ends: our server side, the upstream open on its
 * CONNECT_OPEN, then the relay. Scoped: closing the scope closes the upstream.
 */
const serveClient = (socket: Socket.Socket, ctx: Context, budget: Reader.Budget): Effect.Effect<void, never, Scope.Scope | Services> =>
  Effect.gen(function*() {
    const o = ctx.options
    const timeout = o.handshakeTimeout ?? Server.defaultLimits.handshakeTimeout
    const client = yield* Connection.make(socket, (now) => Session.server(now, { ...o.keepalive, delegateOpen: true }), {
      budget,
      maxPendingFrames: o.maxPendingFrames ?? defaults.maxPendingFrames,
      ...(timeout > 0 ? { handshakeTimeout: timeout } : {}),
      ...(o.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: o.maxQueuedBytes }),
      ...(o.policing === undefined ? {} : { policing: o.policing })
    })
    const scope = yield* Effect.scope
    let leg: Leg | undefined
    let down: Fiber.Fiber<Effect.Success<ReturnType<typeof pumpDown>>> | undefined
    const opened = (f: Frame.Frame) =>
      open(ctx, client, f, scope).pipe(
        Effect.flatMap((l) =>
          l === undefined ? Effect.void : Effect.forkIn(pumpDown(l, client), scope).pipe(Effect.map((fiber) => void ((leg = l), (down = fiber))))
        )
      )
    // before the open only CONNECT_OPEN matters (the session delivers nothing else but stray stream frames)
    const up = client.frames.pipe(Stream.runForEach((f) => leg !== undefined ? relayUp(leg, f) : isOpenCall(f) ? opened(f) : Effect.void))
    yield* Effect.raceFirst(up, Effect.exit(client.closed))
    const l: Leg | undefined = leg
    const relayed = l === undefined ? { up: 0, down: 0 } : { up: l.up, down: l.down }
    if (l !== undefined && l.upstreamEnded && down !== undefined) {
      const ended = (yield* Fiber.join(down)) ?? { reason: "the daemon closed the connection", error: undefined }
      return yield* ctx.emit({ _tag: "Ended", client: ctx.id, by: "upstream", ...ended, relayed })
    }
    const end = yield* Effect.exit(client.closed)
    const error = Exit.isFailure(end) ? Cause.squash(end.cause) as Connection.ConnectionError : undefined
    const reason = error !== undefined ? error.message : l === undefined ? "closed before opening" : "closed by the client"
    yield* ctx.emit({ _tag: "Ended", client: ctx.id, by: "client", reason, error, relayed })
  })

// ---------------------------------------------------------------------------------------------------------------
// Listening
// ---------------------------------------------------------------------------------------------------------------

/**
 * Serves every client of a `SocketServer` through the proxy, each on its own fiber. Runs until interrupted.
 *
 * @since 0.2.0
 * @category running
 */
export const serve = (
  server: SocketServer.SocketServer["Service"],
  options: ProxyOptions
): Effect.Effect<never, ProxyError, Services> =>
  Effect.gen(function*() {
    const { settled, uri } = yield* Effect.fromResult(check(options))
    const emit = options.onEvent ?? (() => Effect.void)
    const budget = Reader.budget(options.maxBufferedBytes ?? Server.defaultLimits.maxBufferedBytes)
    const maxClients = options.maxClients ?? Server.defaultLimits.maxClients
    let live = 0
    let next = 0
    return yield* server.run((socket) => {
      if (live >= maxClients) return emit({ _tag: "Rejected", reason: `max clients (${maxClients}) reached` }).pipe(Effect.andThen(Server.refuse(socket)))
      live++
      const ctx: Context = { uri, options: settled, id: ++next, emit }
      return emit({ _tag: "Accepted", client: ctx.id }).pipe(
        Effect.andThen(serveClient(socket, ctx, budget)),
        Effect.scoped,
        Effect.ensuring(Effect.sync(() => void live--))
      )
    })
  })

/**
 * Listens on TCP (`{ host, port }`, port 0 for any free port) or a Unix socket (`{ path }`) and proxies every
 * client to the upstream daemon until the scope closes. Fails before listening when an option is invalid.
 *
 * **Example**
 * ```ts
 * const program = Effect.gen(function*() {
 *   const proxy = yield* Proxy.listen({ host: "127.0.0.1", port: 16510 }, {
 *     upstream: "qemu+tcp://127.0.0.1:16509/system",
 *     keepalive: { interval: 5000, count: 5, policy: "required" }
 *   })
 *   yield* Effect.never
 * }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
 * ```
 *
 * @since 0.2.0
 * @category running
 */
export const listen = (
  where: { readonly host: string; readonly port: number } | { readonly path: string },
  options: ProxyOptions
): Effect.Effect<Server.Listening, ProxyError, Scope.Scope | Services> =>
  Effect.gen(function*() {
    yield* Effect.fromResult(validate(options))
    const server = yield* Server.socketServer(where)
    yield* serve(server, options).pipe(Effect.forkScoped)
    const address = server.address
    return { address, port: NetAddress.isInetAddress(address) ? address.port : -1 }
  })
