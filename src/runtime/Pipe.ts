/**
 * One direction of an in-memory byte stream: what one side wrote and the other has not read yet, and how the
 * stream ended. The receiving end of in-memory and simulated links.
 *
 * Contract:
 * - {@link Pipe.push} adds a chunk; {@link Pipe.finish} ends the stream after what it holds (the error the reader
 *   gets once it has read everything: close code 1000 for an orderly end, another code for a close). After the end,
 *   a pushed chunk is lost (`push` says so) and a second end is ignored.
 * - Two ways to read, never both on one pipe: {@link Pipe.read} and {@link Pipe.listen} (the runtime's synchronous
 *   path, as a Node stream is read in its `readable` events), or {@link Pipe.pull} (an `effect/socket` reader).
 * - A reader is told of new chunks and of the end in a task of the Effect scheduler's dispatcher (as a queue
 *   releases its takers), never inside the writer's call: a side that answers what it reads never runs inside the
 *   other side's step, and fibers scheduled before the delivery run before it. Nothing here waits on time, so it
 *   works under `TestClock`.
 * - Unbounded like a link that never pushes back: what bounds it is the runtime on each side.
 *
 * @since 0.3.0
 */
import type * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import type { SchedulerDispatcher } from "effect/Scheduler"
import * as Socket from "effect/socket/Socket"

/**
 * A socket error for a close with `code` (1000: the peer ended the stream; 1006: the link broke), the same value
 * for the same code.
 *
 * @since 0.3.0
 * @category constructors
 */
export const closed = (code: number): Socket.SocketError => {
  let error = closeErrors.get(code)
  if (error === undefined) {
    error = new Socket.SocketError({ reason: new Socket.SocketCloseError({ code }) })
    closeErrors.set(code, error)
  }
  return error
}

/** One error per close code, built once: an end is data, and building an effect/socket error is not cheap. */
const closeErrors = new Map<number, Socket.SocketError>()

/**
 * What a byte stream offers the runtime's synchronous read path: a Node stream in paused mode, or a {@link Pipe}.
 *
 * @since 0.3.0
 * @category models
 */
export interface Source {
  /** The next chunk that arrived and was not read yet, or null. */
  read(): Uint8Array | null
  /** How the stream ended, once everything before the end was read; undefined while it goes on. */
  readonly ended: Socket.SocketError | undefined
  /** Calls `wake` whenever there may be more to read, or the end; returns what stops it. */
  listen(wake: () => void): () => void
  /** Runs `task` in a later turn (after other connections' input), to read on. */
  later(task: () => void): void
}

/**
 * One direction of an in-memory stream.
 *
 * @since 0.3.0
 * @category models
 */
export class Pipe implements Source {
  private chunks: Array<Uint8Array> = []
  private head = 0
  private end: Socket.SocketError | undefined
  private listener: (() => void) | undefined
  private waiter: ((effect: Effect.Effect<Arr.NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError>) => void) | undefined
  private scheduled = false
  readonly dispatcher: SchedulerDispatcher

  /** A pipe whose reader is told in tasks of `dispatcher` (a fiber's `currentDispatcher`). */
  constructor(dispatcher: SchedulerDispatcher) {
    this.dispatcher = dispatcher
  }

  /** Adds a chunk; false when the stream has ended (the chunk is lost). */
  push(chunk: Uint8Array): boolean {
    if (this.end !== undefined) return false
    this.chunks.push(chunk)
    this.notify()
    return true
  }

  /** Ends the stream after what it holds, once. */
  finish(error: Socket.SocketError) {
    if (this.end !== undefined) return
    this.end = error
    this.notify()
  }

  read(): Uint8Array | null {
    if (this.head >= this.chunks.length) return null
    const chunk = this.chunks[this.head++]!
    if (this.head === this.chunks.length) {
      this.chunks = []
      this.head = 0
    }
    return chunk
  }

  get ended(): Socket.SocketError | undefined {
    return this.head < this.chunks.length ? undefined : this.end
  }

  listen(wake: () => void): () => void {
    this.listener = wake
    if (this.head < this.chunks.length || this.end !== undefined) this.notify()
    return () => {
      if (this.listener === wake) this.listener = undefined
    }
  }

  later(task: () => void) {
    this.dispatcher.scheduleTask(task, 0)
  }

  /** Everything that arrived, as an `effect/socket` read: waits for a chunk, fails with the end. */
  readonly pull: Effect.Effect<Arr.NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError> = Effect.callback((resume) => {
    const now = this.take()
    if (now !== undefined) return resume(now)
    this.waiter = resume
    return Effect.sync(() => {
      if (this.waiter === resume) this.waiter = undefined
    })
  })

  private take(): Effect.Effect<Arr.NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError> | undefined {
    if (this.head < this.chunks.length) {
      const all: Arr.NonEmptyReadonlyArray<Uint8Array> = [this.chunks[this.head]!, ...this.chunks.slice(this.head + 1)]
      this.chunks = []
      this.head = 0
      return Effect.succeed(all)
    }
    return this.end === undefined ? undefined : Effect.fail(this.end)
  }

  private notify() {
    if (this.scheduled) return
    this.scheduled = true
    this.dispatcher.scheduleTask(this.deliver, 0)
  }

  private deliver = () => {
    this.scheduled = false
    if (this.waiter !== undefined) {
      const ready = this.take()
      if (ready === undefined) return
      const resume = this.waiter
      this.waiter = undefined
      return resume(ready)
    }
    this.listener?.()
  }
}
