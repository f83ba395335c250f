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
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as EffectScheduler from "effect/Scheduler"
import type * as Fiber from "effect/Fiber"

/**
 * A connection's entry in the scheduler.
 *
 * @since 0.2.0
 * @category models
 */
export interface Timer {
  /** Re-reads the deadline after a step; cheap when the deadline moved later. */
  reschedule(): void
  /** Removes the timer for good. */
  cancel(): void
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
  static readonly layer: Layer.Layer<Scheduler> = Layer.effect(
    Scheduler,
    Effect.gen(function*() {
      return make(yield* Clock.Clock, yield* EffectScheduler.Scheduler)
    })
  )
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

/** A binary min-heap of timer entries by `at`; each entry knows its index (-1 when out of the heap). */
class Heap {
  readonly items: Array<Entry> = []

  get size() {
    return this.items.length
  }
  peek(): Entry | undefined {
    return this.items[0]
  }
  insert(e: Entry, at: number) {
    e.at = at
    e.index = this.items.length
    this.items.push(e)
    this.up(e.index)
  }
  remove(e: Entry) {
    const i = e.index
    if (i < 0) return
    const last = this.items.pop()!
    e.index = -1
    if (last === e) return
    this.items[i] = last
    last.index = i
    this.up(i)
    this.down(last.index)
  }
  /** Moves `e` earlier, to `at`. */
  advance(e: Entry, at: number) {
    e.at = at
    this.up(e.index)
  }
  private swap(i: number, j: number) {
    const h = this.items
    const a = h[i]!, b = h[j]!
    h[i] = b
    h[j] = a
    a.index = j
    b.index = i
  }
  private up(i: number) {
    const h = this.items
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (h[parent]!.at <= h[i]!.at) return
      this.swap(i, parent)
      i = parent
    }
  }
  private down(i: number) {
    const h = this.items
    const n = h.length
    while (true) {
      const l = 2 * i + 1, r = l + 1
      let m = i
      if (l < n && h[l]!.at < h[m]!.at) m = l
      if (r < n && h[r]!.at < h[m]!.at) m = r
      if (m === i) return
      this.swap(i, m)
      i = m
    }
  }
}

/** A registered task: its heap key and place, and its two methods on the prototype (one small object per timer). */
class TimerEntry implements Entry, Timer {
  at = 0
  index = -1
  cancelled = false
  readonly task: Task
  readonly owner: HeapScheduler

  constructor(owner: HeapScheduler, task: Task) {
    this.owner = owner
    this.task = task
  }
  reschedule() {
    this.owner.reschedule(this)
  }
  cancel() {
    this.owner.cancel(this)
  }
}

/** The heap, and the one alarm fiber that sleeps until its earliest key. */
class HeapScheduler implements SchedulerShape {
  private readonly heap = new Heap()
  private readonly context: Context.Context<never>
  private readonly clock: Clock.Clock
  private alarm: Fiber.Fiber<void> | undefined
  private alarmAt = Infinity
  private firing = false
  /** When the alarm last looked at the heap (it was aimed, or it ran the due timers). */
  private looked = 0

  constructor(clock: Clock.Clock, tasks: EffectScheduler.Scheduler) {
    this.clock = clock
    this.context = Context.make(Clock.Clock, clock).pipe(Context.add(EffectScheduler.Scheduler, tasks))
  }

  register = (task: Task): Timer => new TimerEntry(this, task)
  size = () => this.heap.size
  next = () => this.heap.peek()?.at

  reschedule(e: Entry) {
    if (e.cancelled) return
    const at = e.task.deadline()
    if (at === undefined) return // a stale entry is dropped when it comes due
    if (e.index < 0) this.heap.insert(e, at)
    else if (at < e.at) this.heap.advance(e, at)
    else return
    this.aim()
  }

  cancel(e: Entry) {
    e.cancelled = true
    this.heap.remove(e)
    // nothing left to wait for: stop the alarm now rather than leave a timer pending
    if (this.heap.size === 0 && this.alarm !== undefined && !this.firing) {
      this.alarm.interruptUnsafe()
      this.alarm = undefined
      this.alarmAt = Infinity
    }
  }

  /** Starts the alarm again when the earliest key moved before the one it sleeps for. */
  private aim() {
    const first = this.heap.peek()
    if (this.firing || first === undefined || first.at >= this.alarmAt) return
    this.alarm?.interruptUnsafe()
    this.looked = millis(this.clock)
    this.alarmAt = first.at
    this.alarm = Effect.runForkWith(this.context)(this.loop)
  }

  /** Fires every due timer in deadline order; re-queues timers whose deadline moved later. */
  private runDue(now: number) {
    this.firing = true
    try {
      for (let e = this.heap.peek(); e !== undefined && e.at <= now; e = this.heap.peek()) this.runOne(e, now)
    } finally {
      this.firing = false
    }
  }
  private runOne(e: Entry, now: number) {
    this.heap.remove(e)
    const due = e.task.deadline()
    if (due === undefined) return
    if (due > now) return this.heap.insert(e, due)
    e.task.fire(now)
    // fire() usually re-queued the timer itself (its session stepped and rescheduled)
    if (e.cancelled || e.index >= 0) return
    const next = e.task.deadline()
    // the core never asks for a deadline in the past; a guard keeps a faulty one from spinning
    if (next !== undefined) this.heap.insert(e, Math.max(next, now + 1))
  }

  private readonly loop: Effect.Effect<void> = Effect.suspend(() => this.sleepUntilDue())

  /** One turn of the alarm: sleep until the earliest key, let pending input in, fire what is due; again while any. */
  private sleepUntilDue(): Effect.Effect<void> {
    const first = this.heap.peek()
    if (first === undefined) {
      this.alarmAt = Infinity
      this.alarm = undefined
      return Effect.void
    }
    const target = first.at
    this.alarmAt = target
    const wait = Math.ceil(target - millis(this.clock))
    const sleep = wait > 0 ? Effect.sleep(Duration.millis(wait)) : Effect.void
    return sleep.pipe(
      Effect.andThen(Effect.yieldNow),
      Effect.andThen(Effect.suspend(() => this.catchUp(target))),
      Effect.andThen(Effect.suspend(() => {
        this.looked = millis(this.clock)
        this.runDue(this.looked)
        return this.sleepUntilDue()
      }))
    )
  }

  /**
   * Running long after the target, or after we last looked if that was later: our own stall. Lets the I/O that
   * waited meanwhile in (a few turns of the event loop: a peer in this process must read, answer, and be read)
   * before anyone is declared dead.
   */
  private catchUp(target: number): Effect.Effect<void> {
    if (millis(this.clock) - Math.max(target, this.looked) <= STALL_MS) return Effect.void
    return Effect.andThen(turn, Effect.andThen(turn, turn))
  }
}

/**
 * A scheduler on `clock`. Its alarm fiber runs with only that clock and Effect's task scheduler (the one of the
 * fibers it serves) in its context.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (clock: Clock.Clock, tasks: EffectScheduler.Scheduler): SchedulerShape => new HeapScheduler(clock, tasks)

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
