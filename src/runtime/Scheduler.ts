/**
 * One timer for many connections: a binary heap of deadlines and one sleeping fiber.
 *
 * Contract:
 * - A connection registers a {@link Timer} with two synchronous callbacks: `deadline()` (its session's next
 *   deadline in monotonic ms, or undefined) and `fire(now)` (step the session with a Tick). It calls
 *   {@link Timer.reschedule} after every step and {@link Timer.cancel} when it ends.
 * - One alarm fiber sleeps on `Clock` until the earliest deadline, yields once (so input that already arrived is
 *   fed to its session before the tick: our own stall never blames the peer; after a wake-up more than 20 ms late,
 *   a few real event-loop turns), then fires every due timer in
 *   deadline order with the same `now`. It never waits on a socket: `fire` only steps a pure session and queues
 *   bytes. It exits when no deadline is left and is started again by the next registration.
 * - Deadlines that move later (the usual case: a frame arrived) cost nothing: the heap keeps the old key and the
 *   timer is re-queued at its real deadline when the old key comes due. A deadline that moves earlier is moved
 *   up in the heap, and the alarm is re-aimed if it became the earliest.
 * - Works the same under `TestClock`: every sleep goes through `Clock`. One scheduler serves all connections
 *   that share a clock ({@link forClock}); {@link layer} gives an explicit one.
 *
 * Cost: O(log n) per registration, per deadline that moves earlier, and per due timer.
 *
 * @since 0.2.0
 */
import { Clock, Context, Duration, Effect, Layer } from "effect"
import * as EffectScheduler from "effect/Scheduler"
import type { Fiber } from "effect"

/**
 * A connection's entry in the scheduler.
 *
 * @since 0.2.0
 * @category models
 */
export interface Timer {
  /** Re-reads the deadline after a step; cheap when the deadline moved later. */
  readonly reschedule: () => void
  /** Removes the timer for good. */
  readonly cancel: () => void
}

/**
 * What a timer calls back, synchronously: the next deadline (monotonic ms, or undefined for none), and the work due.
 *
 * @since 0.2.0
 * @category models
 */
export interface Task {
  readonly deadline: () => number | undefined
  readonly fire: (now: number) => void
}

/**
 * The scheduler service.
 *
 * @since 0.2.0
 * @category models
 */
export interface SchedulerShape {
  /** Registers a task; nothing is armed until {@link Timer.reschedule}. */
  readonly register: (task: Task) => Timer
  /** Timers currently in the heap (registered and armed). */
  readonly size: () => number
  /** The earliest key in the heap (a deadline, or an earlier one not yet re-read), or undefined. */
  readonly next: () => number | undefined
}

/**
 * The scheduler in context; without one, connections use the shared scheduler of their clock ({@link forClock}).
 *
 * @since 0.2.0
 * @category services
 */
export class Scheduler extends Context.Service<Scheduler, SchedulerShape>()("effect-keepalive/Scheduler") {
  /** A scheduler of its own, on the clock in context. */
  static readonly layer: Layer.Layer<Scheduler> = Layer.effect(Scheduler, Effect.gen(function*() {
    return make(yield* Clock.Clock, yield* EffectScheduler.Scheduler)
  }))
}

interface Entry {
  at: number
  index: number
  cancelled: boolean
  readonly task: Task
}

/**
 * The monotonic time of `clock` in milliseconds: the time base of sessions and deadlines.
 *
 * @since 0.2.0
 * @category time
 */
export const millis = (clock: Clock.Clock): number => Number(clock.monotonicTimeNanosUnsafe()) / 1e6

/** Lateness of a wake-up that counts as a stall of our own (a timer is normally 0–2 ms late; `TestClock`'s never). */
const STALL_MS = 20

/** One real turn of the event loop: poll-phase I/O runs before it ends. */
const turn = Effect.callback<void>((resume) => {
  const t = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(t))
})

/**
 * A scheduler on `clock`. Its alarm fiber runs with only that clock and Effect's task scheduler (the one of the
 * fibers it serves) in its context.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (clock: Clock.Clock, tasks: EffectScheduler.Scheduler): SchedulerShape => {
  const heap: Array<Entry> = []
  const context = Context.make(Clock.Clock, clock).pipe(Context.add(EffectScheduler.Scheduler, tasks))
  let alarm: Fiber.Fiber<void> | undefined
  let alarmAt = Infinity
  let firing = false
  /** When the alarm last looked at the heap (it was aimed, or it ran the due timers). */
  let looked = 0

  const swap = (i: number, j: number) => {
    const a = heap[i]!, b = heap[j]!
    heap[i] = b
    heap[j] = a
    a.index = j
    b.index = i
  }
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]!.at <= heap[i]!.at) return
      swap(i, parent)
      i = parent
    }
  }
  const down = (i: number) => {
    const n = heap.length
    while (true) {
      const l = 2 * i + 1, r = l + 1
      let m = i
      if (l < n && heap[l]!.at < heap[m]!.at) m = l
      if (r < n && heap[r]!.at < heap[m]!.at) m = r
      if (m === i) return
      swap(i, m)
      i = m
    }
  }
  const insert = (e: Entry, at: number) => {
    e.at = at
    e.index = heap.length
    heap.push(e)
    up(e.index)
  }
  const remove = (e: Entry) => {
    const i = e.index
    if (i < 0) return
    const last = heap.pop()!
    e.index = -1
    if (last === e) return
    heap[i] = last
    last.index = i
    up(i)
    down(last.index)
  }

  /** Fires every due timer in deadline order; re-queues timers whose deadline moved later. */
  const runDue = (now: number) => {
    firing = true
    try {
      while (heap.length > 0 && heap[0]!.at <= now) {
        const e = heap[0]!
        remove(e)
        const due = e.task.deadline()
        if (due !== undefined && due <= now) {
          e.task.fire(now)
          // fire() usually re-queued the timer itself (its session stepped and rescheduled)
          if (e.cancelled || e.index >= 0) continue
          const next = e.task.deadline()
          // the core never asks for a deadline in the past; a guard keeps a faulty one from spinning
          if (next !== undefined) insert(e, Math.max(next, now + 1))
        } else if (due !== undefined) {
          insert(e, due)
        }
      }
    } finally {
      firing = false
    }
  }

  const loop: Effect.Effect<void> = Effect.gen(function*() {
    while (heap.length > 0) {
      const target = heap[0]!.at
      alarmAt = target
      const wait = Math.ceil(target - millis(clock))
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
      yield* Effect.yieldNow
      // Running long after the target, or after we last looked if that was later: our own stall. Let the I/O that
      // waited meanwhile in (a few turns of the event loop: a peer in this process must read, answer, and be read)
      // before anyone is declared dead.
      if (millis(clock) - Math.max(target, looked) > STALL_MS) for (let i = 0; i < 3; i++) yield* turn
      looked = millis(clock)
      runDue(looked)
    }
    alarmAt = Infinity
    alarm = undefined
  })

  const aim = () => {
    if (firing || heap.length === 0 || heap[0]!.at >= alarmAt) return
    alarm?.interruptUnsafe()
    looked = millis(clock)
    alarmAt = heap[0]!.at
    alarm = Effect.runForkWith(context)(loop)
  }

  const reschedule = (e: Entry) => {
    if (e.cancelled) return
    const at = e.task.deadline()
    if (at === undefined) return // a stale entry is dropped when it comes due
    if (e.index < 0) insert(e, at)
    else if (at < e.at) {
      e.at = at
      up(e.index)
    } else return
    aim()
  }
  const cancel = (e: Entry) => {
    e.cancelled = true
    remove(e)
    // nothing left to wait for: stop the alarm now rather than leave a timer pending
    if (heap.length === 0 && alarm !== undefined && !firing) {
      alarm.interruptUnsafe()
      alarm = undefined
      alarmAt = Infinity
    }
  }
  // one small object per timer; its two methods are shared
  const proto = {
    reschedule(this: Entry) {
      reschedule(this)
    },
    cancel(this: Entry) {
      cancel(this)
    }
  }
  const register = (task: Task): Timer => {
    const e: Entry & Timer = Object.assign(Object.create(proto), { at: 0, index: -1, cancelled: false, task })
    return e
  }

  return { register, size: () => heap.length, next: () => heap[0]?.at }
}

const shared = new WeakMap<Clock.Clock, SchedulerShape>()

/**
 * The scheduler shared by every connection on `clock` (one per process for the live clock, one per `TestClock`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const forClock = (clock: Clock.Clock, tasks: EffectScheduler.Scheduler): SchedulerShape => {
  let s = shared.get(clock)
  if (s === undefined) {
    s = make(clock, tasks)
    shared.set(clock, s)
  }
  return s
}

/**
 * The scheduler in context, or the shared one of the current clock.
 *
 * @since 0.2.0
 * @category accessors
 */
export const current: Effect.Effect<SchedulerShape> = Effect.gen(function*() {
  const provided = yield* Effect.serviceOption(Scheduler)
  if (provided._tag === "Some") return provided.value
  return forClock(yield* Clock.Clock, yield* EffectScheduler.Scheduler)
})
