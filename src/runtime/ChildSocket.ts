/**
 * A program's stdin and stdout as an `effect/socket` `Socket`: the transport of libvirt's ssh and ext URIs, which
 * run a program (`ssh … nc -U …`, or `command=`) and speak the protocol over its stdio.
 *
 * Contract:
 * - {@link fromProcess} spawns the program when the socket's reader is acquired, through effect's
 *   `ChildProcessSpawner`, in the reader's scope: closing it kills the program (SIGTERM, then SIGKILL after
 *   500 ms). A program that cannot be started fails the open with a `ConnectFailed` naming its command line.
 * - Writes go to its stdin, queued (at most 64 chunks, then writes wait: flow control, as over a socket) until it
 *   runs; releasing the writer closes its stdin. A `CloseEvent` destroys the socket: a pending read fails at once.
 * - When its stdout ends, a zero exit is a clean close; anything else is a read error carrying
 *   {@link ProcessFailed} with the exit code and the last 4 KiB of its stderr.
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as ChildProcess from "effect/process/ChildProcess"
import { type ChildProcessHandle, ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as CommandLine from "effect/process/CommandLine"
import * as Socket from "effect/socket/Socket"
import { ConnectFailed, errorCode, openFailure, ProcessFailed } from "./DialError.ts"

const asBytes = (chunk: Uint8Array | string) => (typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk)
const readError = (cause: unknown) => new Socket.SocketError({ reason: new Socket.SocketReadError({ cause }) })
const closedWith = (code: number) => new Socket.SocketError({ reason: new Socket.SocketCloseError({ code }) })
const cleanClose = closedWith(1000)

/** The reader of a spawned program: its stdout, then its exit as the end (a clean close or {@link ProcessFailed}). */
const programReader = (
  handle: ChildProcessHandle,
  shown: string,
  destroyed: Deferred.Deferred<never, Socket.SocketError>
) =>
  Effect.gen(function*() {
    let stderr = ""
    const stderrRead = yield* handle.stderr.pipe(
      Stream.decodeText(),
      Stream.runForEach((text) => Effect.sync(() => void (stderr = (stderr + text).slice(-4096)))),
      Effect.ignore,
      Effect.forkScoped
    )
    const ended = handle.exitCode.pipe(
      Effect.timeoutOption(Duration.seconds(2)),
      Effect.map(Option.getOrUndefined),
      Effect.orElseSucceed(() => undefined),
      // the exit can come before the last of stderr: read it to its end (briefly) so the error carries it
      Effect.tap(() => Fiber.await(stderrRead).pipe(Effect.timeoutOption(Duration.millis(500)))),
      Effect.flatMap((exitCode) => Effect.fail(exitCode === 0 ? cleanClose : readError(new ProcessFailed({ command: shown, exitCode, stderr }))))
    )
    const pull = yield* Stream.toPull(handle.stdout)
    return {
      pull: Effect.catch(pull, (e): Effect.Effect<never, Socket.SocketError> => (Cause.isDone(e) ? ended : Effect.fail(readError(e)))).pipe(
        Effect.raceFirst(Deferred.await(destroyed))
      ),
      upgrade: Socket.SocketUpgradeError.unsupported
    }
  })

/**
 * A socket over a program's stdin and stdout: acquiring the reader spawns it (in the reader's scope, which kills
 * it: SIGTERM, then SIGKILL after 500 ms); writes go to its stdin (queued until then); releasing the writer closes
 * its stdin. A `CloseEvent` destroys the socket: a pending read fails at once (a frozen program would never close
 * its stdout). When its stdout ends, a zero exit is a clean close, anything else a read error carrying
 * {@link ProcessFailed}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromProcess = (command: string, args: ReadonlyArray<string>): Effect.Effect<Socket.Socket, never, ChildProcessSpawner> =>
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner
    // bounded: a program that stops reading its stdin makes our writes wait, so the connection stops reading too
    // (flow control, as over a socket) instead of queueing without bound
    const input = yield* Queue.bounded<Uint8Array, Cause.Done>(64)
    const destroyed = yield* Deferred.make<never, Socket.SocketError>()
    const shown = CommandLine.display([command, ...args])
    const spawn = spawner.spawn(ChildProcess.make(command, args, {
      stdin: { stream: Stream.fromQueue(input) },
      forceKillAfter: "500 millis"
    })).pipe(Effect.mapError((e) => openFailure(new ConnectFailed({ address: shown, code: errorCode(e.reason.cause ?? e), detail: e.message }))))
    const writer: Socket.Writer = {
      write: (chunk) =>
        Socket.isCloseEvent(chunk)
          ? Deferred.fail(destroyed, closedWith(chunk.code)).pipe(Effect.andThen(Queue.end(input)), Effect.asVoid)
          : Queue.offer(input, asBytes(chunk)).pipe(Effect.asVoid),
      writeAll: (chunks) => Queue.offerAll(input, chunks.map(asBytes)).pipe(Effect.asVoid)
    }
    return Socket.make({
      reader: Effect.flatMap(spawn, (handle) => programReader(handle, shown, destroyed)),
      writer: Effect.acquireRelease(Effect.succeed(writer), () => Queue.end(input))
    })
  })
