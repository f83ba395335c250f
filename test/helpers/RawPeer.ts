/**
 * A scripted peer for runtime tests: it speaks raw frames on one end of a socket, records every frame it
 * receives with the (virtual) time of arrival, and answers only what the test tells it to.
 */
import { Clock, Effect, Ref } from "effect"
import type { Scope } from "effect"
import * as Socket from "effect/socket/Socket"
import * as Frame from "../../src/wire/Frame.ts"
import * as FrameDecoder from "../../src/wire/FrameDecoder.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Trace from "../../src/trace/Trace.ts"

export interface Arrival {
  readonly at: number
  readonly what: string
  readonly frame: Frame.Frame
}

export interface RawPeer {
  readonly send: (frame: Frame.Frame) => Effect.Effect<void>
  readonly sendBytes: (bytes: Uint8Array) => Effect.Effect<void>
  /** Everything received so far. */
  readonly arrivals: Effect.Effect<ReadonlyArray<Arrival>>
  /** Resolves with the time the other side closed the connection (or fails the socket). */
  readonly closedAt: Effect.Effect<number | undefined>
  /** Answer PINGs with PONGs from now on (default false: a silent peer). */
  readonly answerPings: (on: boolean) => Effect.Effect<void>
  /** Release our writer: the other side reads end of stream. */
  readonly hangUp: Effect.Effect<void>
}

const nowMs = Effect.map(Clock.monotonicTimeNanos, (ns) => Number(ns) / 1e6)

export const make = (socket: Socket.Socket): Effect.Effect<RawPeer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const arrivals = yield* Ref.make<ReadonlyArray<Arrival>>([])
    const closed = yield* Ref.make<number | undefined>(undefined)
    const answering = yield* Ref.make(false)
    const writer = yield* socket.writer
    const write = (bytes: Uint8Array) => writer.write(bytes).pipe(Effect.ignore)
    yield* Effect.forkScoped(
      Effect.gen(function*() {
        const pull = yield* Socket.readerBytes(socket)
        let decoder = FrameDecoder.initial
        while (true) {
          const chunks = yield* pull
          for (const chunk of chunks) {
            const step = FrameDecoder.feed(decoder, chunk)
            decoder = step.state
            for (const frame of step.frames) {
              const at = yield* nowMs
              yield* Ref.update(arrivals, (a) => [...a, { at, what: Trace.describeFrame(frame), frame }])
              if (Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Ping && (yield* Ref.get(answering))) {
                yield* write(Frame.PONG_BYTES)
              }
            }
          }
        }
      }).pipe(Effect.catch(() => Effect.flatMap(nowMs, (t) => Ref.set(closed, t))))
    )
    return {
      send: (frame) => write(Frame.encode(frame)),
      sendBytes: write,
      arrivals: Ref.get(arrivals),
      closedAt: Ref.get(closed),
      answerPings: (on) => Ref.set(answering, on),
      hangUp: writer.write(new Socket.CloseEvent(1000)).pipe(Effect.ignore)
    }
  })

/** The client half of the libvirt handshake, as raw frames, advertising keepalive or not. */
export const handshake = (peer: RawPeer, options: { readonly advertise: boolean }) =>
  Effect.gen(function*() {
    let serial = 0
    yield* peer.send(Frame.make(Remote.callHeader(Remote.RemoteProc.AuthList, serial++)))
    if (options.advertise) {
      yield* peer.send(
        Frame.make(
          Remote.callHeader(Remote.RemoteProc.ConnectSupportsFeature, serial++),
          Remote.encodeSupportsFeatureArgs({ feature: Remote.Feature.ProgramKeepalive })
        )
      )
    }
    yield* peer.send(
      Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectOpen, serial++), Remote.encodeConnectOpenArgs({ name: "test:///default", flags: 0 }))
    )
  })
