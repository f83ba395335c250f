/**
 * A libvirt remote-program server with keepalive: every accepted client gets its own session under the server's
 * keepalive options and policy.
 *
 * Contract:
 * - The session answers the handshake itself (AUTH_LIST, SUPPORTS_FEATURE, CONNECT_OPEN, CONNECT_CLOSE), pings
 *   advertising clients as the policy allows, and refuses non-advertising clients under `required`.
 * - Every other known call after CONNECT_OPEN goes to the {@link Handler}, at most `maxClientRequests` at once per
 *   client (past it we stop reading from that client, as libvirtd does). Without a handler, or when the handler
 *   does not know the procedure, the client gets libvirt's "this function is not supported by the connection
 *   driver" error reply; an unknown procedure gets libvirtd's "unknown procedure" from the session: never silence,
 *   never a crash.
 * - Connections are independent and bounded (see `Connection`): a client that dies, floods, stops reading or sends
 *   garbage ends only its own connection, and its socket is destroyed at once. Beyond `maxClients`, new
 *   connections are closed at once; a client that sends no CONNECT_OPEN within `handshakeTimeout` is closed.
 * - Options are validated before anything listens: bad settings fail with a typed error naming the field.
 * - {@link KeepaliveServer} is the service: {@link layer} serves the `SocketServer` in context, {@link layerConfig}
 *   reads the settings from Config, {@link layerTcp} and {@link layerUnix} listen too. The service's `connections`
 *   is a Stream of every connection accepted from then on, with the peer's address (as is `onConnection`).
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Duration from "effect/Duration"
import * as Socket from "effect/socket/Socket"
import type * as SocketServer from "effect/socket/SocketServer"
import * as SocketServerModule from "effect/socket/SocketServer"
import * as NetAddress from "effect/net/NetAddress"
import * as Acceptor from "./Acceptor.ts"
import * as Connection from "./Connection.ts"
import { describeSocketError } from "./ConnectionError.ts"
import * as Durations from "./Durations.ts"
import * as ServerConfig from "./ServerConfig.ts"
import * as Transport from "./Transport.ts"
import type * as Policing from "./Policing.ts"
import * as Reader from "./Reader.ts"
import { defaults } from "./Driver.ts"
import * as Frame from "../wire/Frame.ts"
import type * as Keepalive from "../core/Keepalive.ts"
import * as KeepaliveModule from "../core/Keepalive.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import * as Session from "../session/Session.ts"

/**
 * Answers one remote-program call: the reply payload (empty for a void reply), a libvirt error, or `undefined`
 * when the handler does not know the procedure.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler = (
  call: Frame.Frame,
  connection: Connection.Connection
) => Effect.Effect<Uint8Array | undefined, Remote.RemoteCallError>

/**
 * Options of a server. The limits carry libvirtd.conf's names in camelCase and have libvirtd's defaults where it
 * has one.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServeOptions {
  /** Keepalive options and policy. Default: libvirtd's 5 s × 5 under policy `disabled`. */
  readonly keepalive?: KeepaliveOptions
  readonly handler?: Handler
  /**
   * Called with every accepted connection (after it started) and the peer's address (`host:port`, a Unix path, or
   * undefined for an in-memory socket), e.g. to log or watch it. It runs on a fiber of its own that is not
   * interrupted when the connection ends (so it can observe the end), only when the server stops.
   */
  readonly onConnection?: (connection: Connection.Connection, peer: string | undefined) => Effect.Effect<void>
  /** Observes every connection's traffic and events (see `Connection.Options`). */
  readonly trace?: Connection.Options["trace"]
  /** max_clients: connections beyond it are closed at once (default 5000). */
  readonly maxClients?: number
  /**
   * max_client_requests: calls of one client in flight at once (default 5). Unlike libvirtd we keep reading past
   * it: later calls wait (see `maxPendingCalls`), and the client's PINGs and PONGs are answered and counted.
   */
  readonly maxClientRequests?: number
  /**
   * Calls of one client waiting for a slot (default 256). At the bound we stop reading from that client and pause
   * its keepalive (our handlers' slowness is not its silence) until a slot frees.
   */
  readonly maxPendingCalls?: number
  /** How long reading may stay stopped by waiting calls before the connection ends with `SlowConsumer` (default 60 seconds; 0: never). */
  readonly maxStall?: Duration.Input
  /** A connection that sends no CONNECT_OPEN within this time is closed (default 60 seconds; 0 disables). */
  readonly handshakeTimeout?: Duration.Input
  /** Bytes of partial frames buffered across all connections (default 256 MiB). */
  readonly maxBufferedBytes?: number
  /** Unsent output per connection before we stop reading from it (default 1 MiB). */
  readonly maxQueuedBytes?: number
  /** Inbound flood policing over frames of every kind (default `Policing.defaults`; rate 0 disables). */
  readonly policing?: Policing.FramePolicing
  /** Replaces `Session.step` for the simulator's mutants (see `Connection.Options.step`); never set in production. */
  readonly step?: Connection.Options["step"]
}

/**
 * A server's keepalive settings: libvirtd.conf's meaning, with the interval as a duration (a plain number is ms).
 *
 * @since 0.2.0
 * @category models
 */
export interface KeepaliveOptions extends Omit<Session.ServerOptions, "interval"> {
  readonly interval: Duration.Input
}

/**
 * Validates keepalive options into the session's form (milliseconds), failing with a typed error naming the field.
 *
 * @since 0.2.0
 * @category validation
 */
export const keepaliveOptions = (
  options: KeepaliveOptions | undefined
): Effect.Effect<Session.ServerOptions, Keepalive.InvalidKeepaliveConfig | Session.InvalidPolicy> => {
  if (options === undefined) return Effect.succeed(Session.defaultServerOptions)
  const interval = Durations.toMillis(options.interval)
  if (interval === undefined) {
    return Effect.fail(
      new KeepaliveModule.InvalidKeepaliveConfig({ field: "interval", value: Number.NaN, rule: `"${String(options.interval)}" is not a duration` })
    )
  }
  return Effect.fromResult(Session.validateServerOptions({ ...options, interval }))
}

/**
 * The server limits' defaults.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultLimits = {
  maxClients: 5000,
  maxClientRequests: 5,
  handshakeTimeout: 60_000,
  maxBufferedBytes: 256 * 1024 * 1024
} as const

// libvirtd's convention for a known API the driver lacks: NO_SUPPORT in the API's domain, naming the API
const API_NAMES: Readonly<Record<number, string>> = {
  [Remote.RemoteProc.ConnectGetType]: "virConnectGetType",
  [Remote.RemoteProc.ConnectGetVersion]: "virConnectGetVersion",
  [Remote.RemoteProc.ConnectGetHostname]: "virConnectGetHostname",
  [Remote.RemoteProc.ConnectGetUri]: "virConnectGetURI",
  [Remote.RemoteProc.ConnectListAllDomains]: "virConnectListAllDomains",
  [Remote.RemoteProc.ConnectRegisterCloseCallback]: "virConnectRegisterCloseCallback",
  [Remote.RemoteProc.ConnectUnregisterCloseCallback]: "virConnectUnregisterCloseCallback"
}

const notSupported = (proc: number): Remote.RemoteErrorPayload =>
  Remote.isKnownProcedure(proc)
    ? Remote.libvirtError(Remote.ErrorCode.NoSupport, Remote.ErrorDomain.Domain, API_NAMES[proc] ?? `remote procedure ${proc}`)
    : Remote.libvirtError(Remote.ErrorCode.Rpc, Remote.ErrorDomain.Rpc, `unknown procedure: ${proc}`)

const replyTo = (call: Frame.Frame, outcome: Result.Result<Uint8Array | undefined, Remote.RemoteCallError>): Frame.Frame => {
  const { proc, serial } = call.header
  if (Result.isSuccess(outcome)) {
    return outcome.success === undefined
      ? Remote.errorReply({ proc, serial }, notSupported(proc))
      : Frame.make(Remote.replyHeader(proc, serial, Frame.MessageStatus.Ok), outcome.success)
  }
  const e = outcome.failure
  return Remote.errorReply({ proc, serial }, Remote.remoteError(e.code, e.domain, e.text))
}

/** The reply to a call whose handler died: VIR_ERR_INTERNAL_ERROR naming the defect. */
const handlerDied = (call: Frame.Frame, defect: unknown): Remote.RemoteCallError =>
  new Remote.RemoteCallError({
    proc: call.header.proc,
    code: Remote.ErrorCode.InternalError,
    domain: Remote.ErrorDomain.Rpc,
    text: `internal error: the handler failed: ${defect instanceof Error ? defect.message : String(defect)}`
  })

/** The per-server state shared by its connections: the partial-frame budget and the live count. */
interface Shared {
  readonly budget: Connection.Budget
  live: number
}

const connectionOptions = (options: ServeOptions, shared: Shared | undefined): Connection.Options => {
  const handler = options.handler ?? (() => Effect.succeed(undefined))
  const timeout = Durations.toMillis(options.handshakeTimeout ?? defaultLimits.handshakeTimeout) ?? defaultLimits.handshakeTimeout
  return {
    budget: shared?.budget ?? Reader.budget(options.maxBufferedBytes ?? defaultLimits.maxBufferedBytes),
    ...(timeout > 0 ? { handshakeTimeout: timeout } : {}),
    ...(options.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: options.maxQueuedBytes }),
    ...(options.maxPendingCalls === undefined ? {} : { maxPendingFrames: options.maxPendingCalls }),
    // a value that is not a duration keeps the default bound: it must never switch the stall bound off
    ...(options.maxStall === undefined ? {} : { maxStall: Durations.toMillis(options.maxStall) ?? defaults.maxStall }),
    ...(options.policing === undefined ? {} : { policing: options.policing }),
    ...(options.trace === undefined ? {} : { trace: options.trace }),
    ...(options.step === undefined ? {} : { step: options.step }),
    dispatch: {
      maxRequests: options.maxClientRequests ?? defaultLimits.maxClientRequests,
      // without a handler, every call gets NO_SUPPORT at once
      ...(options.handler === undefined ? { answer: (call: Frame.Frame) => replyTo(call, Result.succeed(undefined)) } : {}),
      handle: (call, connection) =>
        handler(call, connection).pipe(
          Effect.result,
          // a handler that dies still answers (libvirt's internal error), so no call is left without its reply
          Effect.catchDefect((defect) => Effect.succeed(Result.fail(handlerDied(call, defect)))),
          Effect.flatMap((outcome) => connection.send(replyTo(call, outcome))),
          Effect.ignore
        )
    }
  }
}

/**
 * An accepted connection, once started, and the peer's address (`host:port`, a Unix path, or undefined for an
 * in-memory socket).
 *
 * @since 0.2.0
 * @category models
 */
export interface Accepted {
  readonly connection: Connection.Connection
  readonly peer: string | undefined
}

/**
 * Serves one accepted socket until its connection ends, on the calling fiber. Scoped. `onConnection` watchers are
 * detached fibers here; a server's ({@link serve}) live as long as it runs.
 *
 * @since 0.1.0
 * @category running
 */
export const handleSocket = (socket: Socket.Socket, options: ServeOptions = {}): Effect.Effect<void, never, Scope.Scope> => serveSocket(socket, options, {})

/** What a server shares with each connection it serves: the watchers' scope, the budget, the accepted stream. */
interface Serving {
  readonly watchers?: Scope.Scope
  readonly shared?: Shared
  readonly accepted?: PubSub.PubSub<Accepted>
}

const serveSocket = (socket: Socket.Socket, options: ServeOptions, serving: Serving): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const keepalive = yield* keepaliveOptions(options.keepalive).pipe(Effect.orDie)
    const peer = yield* peerOf
    // the accepted Node socket, for direct writes
    const net = yield* Effect.serviceOption(Acceptor.NetSocket)
    if (net._tag === "Some") Transport.withRaw(socket, () => net.value)
    const end = yield* Connection.run(
      socket,
      (now) => Session.server(now, keepalive),
      { ...connectionOptions(options, serving.shared), peer },
      (connection) => started(options, serving, { connection, peer })
    )
    yield* Effect.logDebug("client connection ended").pipe(Effect.annotateLogs({ end: end._tag === "Success" ? "closed" : String(end.cause) }))
  })

/** A connection started: published to `connections`, and handed to `onConnection` on a fiber of its own. */
const started = (options: ServeOptions, serving: Serving, accepted: Accepted): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (serving.accepted !== undefined) yield* PubSub.publish(serving.accepted, accepted)
    const watch = options.onConnection
    if (watch === undefined) return
    const watcher = watch(accepted.connection, accepted.peer)
    yield* serving.watchers === undefined ? Effect.forkDetach(watcher) : Effect.forkIn(watcher, serving.watchers)
  })

/** The accepted socket's peer, when the socket server says (Node's puts the `net.Socket` in context). */
const peerOf: Effect.Effect<string | undefined> = Effect.map(Effect.serviceOption(Acceptor.NetSocket), (o) => {
  if (o._tag === "None") return undefined
  const s = o.value
  return s.remoteAddress === undefined ? (typeof s.address() === "string" ? String(s.address()) : undefined) : `${s.remoteAddress}:${s.remotePort}`
})

/**
 * Closes an accepted socket at once (beyond max_clients): its reader is acquired first, or the socket server would
 * leak it.
 *
 * @since 0.2.0
 * @category running
 */
export const refuse = (socket: Socket.Socket): Effect.Effect<void> =>
  Effect.gen(function*() {
    yield* socket.reader
    const writer = yield* socket.writer
    yield* writer.write(new Socket.CloseEvent(1000))
  }).pipe(Effect.scoped, Effect.ignore)

/**
 * Serves every client of a `SocketServer`, each on its own fiber, publishing each started connection to
 * `accepted` when given. Runs until interrupted.
 *
 * @since 0.1.0
 * @category running
 */
export const serve = (
  server: SocketServer.SocketServer["Service"],
  options: ServeOptions = {},
  /** Where every started connection is published, e.g. for a {@link Running}'s `connections`. */
  accepted?: PubSub.PubSub<Accepted>
): Effect.Effect<never, SocketServer.SocketServerError | Keepalive.InvalidKeepaliveConfig | Session.InvalidPolicy> =>
  Effect.gen(function*() {
    yield* keepaliveOptions(options.keepalive)
    // watchers live as long as the server runs
    const watchers = yield* Scope.make()
    const shared: Shared = { budget: Reader.budget(options.maxBufferedBytes ?? defaultLimits.maxBufferedBytes), live: 0 }
    const maxClients = options.maxClients ?? defaultLimits.maxClients
    return yield* server.run((socket) => {
      if (shared.live >= maxClients) return refuse(socket)
      shared.live++
      const serving: Serving = accepted === undefined ? { watchers, shared } : { watchers, shared, accepted }
      return Effect.scoped(serveSocket(socket, options, serving)).pipe(Effect.ensuring(Effect.sync(() => void shared.live--)))
    }).pipe(
      Effect.ensuring(Scope.close(watchers, Exit.void))
    )
  })

/**
 * The server could not listen: where, and the system's reason (`EADDRINUSE`, `EACCES`, …).
 *
 * @since 0.2.0
 * @category errors
 */
export class ListenFailed extends Data.TaggedError("ListenFailed")<{
  readonly where: string
  readonly cause: SocketServer.SocketServerError
}> {
  override get message(): string {
    return `cannot listen on ${this.where}: ${describeSocketError(this.cause)}`
  }
}

const describeWhere = (where: { readonly host: string; readonly port: number } | { readonly path: string }) =>
  "path" in where ? where.path : `${where.host}:${where.port}`

/**
 * The `ListenFailed` a socket server's error stands for, with the address the system named (`EADDRINUSE` on
 * `127.0.0.1:16509`), or `where` when given.
 *
 * @since 0.2.0
 * @category errors
 */
export const listenFailed = (
  cause: SocketServer.SocketServerError,
  where?: { readonly host: string; readonly port: number } | { readonly path: string }
): ListenFailed => {
  if (where !== undefined) return new ListenFailed({ where: describeWhere(where), cause })
  const error = cause.reason.cause as { readonly address?: unknown; readonly port?: unknown } | undefined
  const host = typeof error?.address === "string" ? error.address : "an unknown address"
  return new ListenFailed({ where: typeof error?.port === "number" ? `${host}:${error.port}` : host, cause })
}

/**
 * A Node socket server on TCP or a Unix socket, failing as {@link listen} does: `ListenFailed` naming the address
 * and the system's code.
 *
 * @since 0.2.0
 * @category running
 */
export const socketServer = (
  where: { readonly host: string; readonly port: number } | { readonly path: string }
): Effect.Effect<SocketServer.SocketServer["Service"], ListenFailed, Scope.Scope> =>
  Acceptor.tcp(where).pipe(Effect.mapError((cause) => listenFailed(cause, where)))

/**
 * `NodeSocketServer.layer` that fails as {@link listen} does (`ListenFailed` naming the address and the code), for
 * {@link layer} and {@link layerConfig}.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerSocketServer = (
  where: { readonly host: string; readonly port: number } | { readonly path: string }
): Layer.Layer<SocketServer.SocketServer, ListenFailed> => Layer.effect(SocketServerModule.SocketServer, socketServer(where))

/**
 * A running server: the address it listens on.
 *
 * @since 0.1.0
 * @category models
 */
export interface Listening {
  readonly address: NetAddress.SocketAddress
  /** The TCP port, or -1 for a Unix socket. */
  readonly port: number
}

/**
 * A running server: where it listens, and every connection it accepts from now on.
 *
 * @since 0.2.0
 * @category models
 */
export interface Running extends Listening {
  /**
   * Each connection accepted after the Stream starts, once started, with its peer. A subscriber more than 1024
   * connections behind loses the oldest ones (a slow watcher never holds the server up).
   */
  readonly connections: Stream.Stream<Accepted>
}

/**
 * Listens on TCP (`{ host, port }`, port 0 for any free port) or a Unix socket (`{ path }`) and serves clients
 * until the scope closes.
 *
 * @since 0.1.0
 * @category running
 */
export const listen = (
  where: { readonly host: string; readonly port: number } | { readonly path: string },
  options: ServeOptions = {}
): Effect.Effect<Running, ListenFailed | Keepalive.InvalidKeepaliveConfig | Session.InvalidPolicy, Scope.Scope> =>
  Effect.gen(function*() {
    yield* keepaliveOptions(options.keepalive)
    return yield* run(yield* socketServer(where), options)
  })

/**
 * Serves every client of `server` until the scope closes (a forked {@link serve}); where it listens and the
 * Stream of its connections.
 *
 * @since 0.2.0
 * @category running
 */
export const run = (server: SocketServer.SocketServer["Service"], options: ServeOptions = {}): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.gen(function*() {
    const accepted = yield* Effect.acquireRelease(PubSub.sliding<Accepted>(1024), PubSub.shutdown)
    yield* serve(server, options, accepted).pipe(Effect.forkScoped)
    const address = server.address
    return { address, port: NetAddress.isInetAddress(address) ? address.port : -1, connections: Stream.fromPubSub(accepted) }
  })

// ---------------------------------------------------------------------------------------------------------------
// The service and its layers
// ---------------------------------------------------------------------------------------------------------------

/**
 * The server service: where it listens. Built by {@link layer} on the `SocketServer` in context (as
 * `HttpServer.serve` is on `NodeHttpServer.layer`), or by {@link layerTcp} / {@link layerUnix}.
 *
 * @since 0.2.0
 * @category services
 */
export class KeepaliveServer extends Context.Service<KeepaliveServer, Running>()("effect-keepalive/Server") {}

/**
 * Serves every client of the `SocketServer` in context until the layer is released. Bad options fail the layer
 * with a typed error before anything is served.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: ServeOptions = {}
): Layer.Layer<KeepaliveServer, Keepalive.InvalidKeepaliveConfig | Session.InvalidPolicy, SocketServer.SocketServer> =>
  Layer.effect(
    KeepaliveServer,
    Effect.gen(function*() {
      const server = yield* SocketServerModule.SocketServer
      yield* keepaliveOptions(options.keepalive)
      return yield* run(server, options)
    })
  )

/**
 * {@link layer} with the keepalive settings and limits read from the current `ConfigProvider` (libvirtd.conf's
 * keys, see `ServerConfig`); what `options` sets explicitly wins.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  options: ServeOptions = {}
): Layer.Layer<KeepaliveServer, Keepalive.InvalidKeepaliveConfig | Session.InvalidPolicy | Config.ConfigError, SocketServer.SocketServer> =>
  Layer.unwrap(Effect.map(
    Config.all({ keepalive: ServerConfig.config, limits: ServerConfig.limits }),
    ({ keepalive, limits }) => layer({ keepalive, ...limits, ...options })
  ))

/**
 * Listens on TCP (`port` 0 for any free port) and serves; fails as {@link listen} does.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerTcp = (
  where: { readonly host: string; readonly port: number },
  options: ServeOptions = {}
): Layer.Layer<KeepaliveServer, ListenFailed | Keepalive.InvalidKeepaliveConfig | Session.InvalidPolicy> =>
  Layer.effect(KeepaliveServer, listen(where, options))

/**
 * Listens on a Unix socket and serves; fails as {@link listen} does.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerUnix = (
  where: { readonly path: string },
  options: ServeOptions = {}
): Layer.Layer<KeepaliveServer, ListenFailed | Keepalive.InvalidKeepaliveConfig | Session.InvalidPolicy> =>
  Layer.effect(KeepaliveServer, listen(where, options))
