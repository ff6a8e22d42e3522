"""A Richards-style operating-system simulation: a scheduler, prioritized tasks, and packets.

After Martin Richards' BCPL benchmark (the scheduler, task kinds, packet flow and the two counters
follow its published behaviour; the code is our own). Six tasks -- an idle task, a worker, two
handlers and two devices -- pass packets through queues; the scheduler always runs the
highest-priority task that is neither held nor waiting.

Exercises: classes with `__init__` and methods, inheritance with overridden `step` methods (method
calls through `self`), attribute loads and stores on many small objects, linked lists through
`None`-terminated attributes, bit operations on task states, `is None` tests, a list indexed by task
id. Known counts: count=1000 -> 2322 packets queued, 928 holds; count=10000 -> 23246, 9297.
"""

from __future__ import annotations

NUMERIC = False
SIZES = {"test": 200, "bench": 20000}

IDLE, WORKER, HANDLER_A, HANDLER_B, DEVICE_A, DEVICE_B = range(6)
DEVICE_PACKET, WORK_PACKET = 0, 1
DATA_SIZE = 4

# Task states are bit sets: a task is runnable when it has a packet waiting, suspended while it
# waits for one, held when another task holds it back.
RUNNING = 0
RUNNABLE = 1
SUSPENDED = 2
HELD = 4


class Packet:
    """A message: queued on a task, linked to the next packet of the same queue."""

    def __init__(self, link: Packet | None, owner: int, kind: int) -> None:
        self.link = link
        self.owner = owner
        self.kind = kind
        self.datum = 0
        self.data = [0] * DATA_SIZE

    def append_to(self, queue: Packet | None) -> Packet:
        """Put this packet at the end of `queue`; return the queue's (possibly new) head."""
        self.link = None
        if queue is None:
            return self
        last = queue
        while last.link is not None:
            last = last.link
        last.link = self
        return queue


class Task:
    """A task control block: identity, priority, packet queue, state; subclasses give the behaviour."""

    def __init__(self, scheduler: Scheduler, ident: int, priority: int, queue: Packet | None) -> None:
        self.scheduler = scheduler
        self.ident = ident
        self.priority = priority
        self.queue = queue
        self.state = SUSPENDED if queue is None else SUSPENDED | RUNNABLE
        self.next = scheduler.tasks_head
        scheduler.tasks_head = self
        scheduler.table[ident] = self

    def blocked(self) -> bool:
        """Held, or suspended with nothing in its queue."""
        return self.state & HELD != 0 or self.state == SUSPENDED

    def enqueue(self, current: Task, packet: Packet) -> Task:
        """Add `packet` to this task's queue; return the task that should run next."""
        if self.queue is None:
            self.queue = packet
            self.state |= RUNNABLE
            if self.priority > current.priority:
                return self
        else:
            self.queue = packet.append_to(self.queue)
        return current

    def resume(self) -> Task | None:
        """Run one step, handing it the first queued packet if the task was waiting for one."""
        packet = None
        if self.state == SUSPENDED | RUNNABLE:
            packet = self.queue
            assert packet is not None
            self.queue = packet.link
            self.state = RUNNING if self.queue is None else RUNNABLE
        return self.step(packet)

    def step(self, packet: Packet | None) -> Task | None:
        raise NotImplementedError(type(self).__name__)


class IdleTask(Task):
    """Wakes the two devices alternately, following a pseudo-random bit sequence, `count` times."""

    def __init__(self, scheduler: Scheduler, priority: int, count: int) -> None:
        super().__init__(scheduler, IDLE, priority, None)
        self.state = RUNNING
        self.seed = 1
        self.count = count

    def step(self, packet: Packet | None) -> Task | None:
        self.count -= 1
        if self.count == 0:
            return self.scheduler.hold_current()
        if self.seed & 1 == 0:
            self.seed >>= 1
            return self.scheduler.release(DEVICE_A)
        self.seed = (self.seed >> 1) ^ 0xD008
        return self.scheduler.release(DEVICE_B)


class WorkerTask(Task):
    """Fills work packets with letters and sends them to the two handlers in turn."""

    def __init__(self, scheduler: Scheduler, priority: int, queue: Packet | None) -> None:
        super().__init__(scheduler, WORKER, priority, queue)
        self.destination = HANDLER_A
        self.letter = 0

    def step(self, packet: Packet | None) -> Task | None:
        if packet is None:
            return self.scheduler.suspend_current()
        self.destination = HANDLER_B if self.destination == HANDLER_A else HANDLER_A
        packet.owner = self.destination
        packet.datum = 0
        for i in range(DATA_SIZE):
            self.letter += 1
            if self.letter > 26:
                self.letter = 1
            packet.data[i] = self.letter
        return self.scheduler.send(packet)


class HandlerTask(Task):
    """Copies the letters of each work packet, one device packet per letter, to its device."""

    def __init__(self, scheduler: Scheduler, ident: int, priority: int, queue: Packet | None) -> None:
        super().__init__(scheduler, ident, priority, queue)
        self.work: Packet | None = None
        self.devices: Packet | None = None

    def step(self, packet: Packet | None) -> Task | None:
        if packet is not None:
            if packet.kind == WORK_PACKET:
                self.work = packet.append_to(self.work)
            else:
                self.devices = packet.append_to(self.devices)
        work = self.work
        if work is not None:
            index = work.datum
            if index >= DATA_SIZE:
                self.work = work.link
                return self.scheduler.send(work)
            device = self.devices
            if device is not None:
                self.devices = device.link
                device.datum = work.data[index]
                work.datum = index + 1
                return self.scheduler.send(device)
        return self.scheduler.suspend_current()


class DeviceTask(Task):
    """Holds one packet at a time and sends it back to its handler on the next step."""

    def __init__(self, scheduler: Scheduler, ident: int, priority: int) -> None:
        super().__init__(scheduler, ident, priority, None)
        self.pending: Packet | None = None

    def step(self, packet: Packet | None) -> Task | None:
        if packet is None:
            pending = self.pending
            if pending is None:
                return self.scheduler.suspend_current()
            self.pending = None
            return self.scheduler.send(pending)
        self.pending = packet
        return self.scheduler.hold_current()


class Scheduler:
    """Runs the task list in priority order and counts queued packets and holds."""

    def __init__(self) -> None:
        self.table: list[Task | None] = [None] * 6
        self.tasks_head: Task | None = None
        self.current: Task | None = None
        self.current_ident = IDLE
        self.sent = 0
        self.holds = 0

    def schedule(self) -> None:
        """Run until no task can run."""
        task = self.tasks_head
        while task is not None:
            if task.blocked():
                task = task.next
            else:
                self.current = task
                self.current_ident = task.ident
                task = task.resume()

    def release(self, ident: int) -> Task | None:
        """Un-hold task `ident`; run it next if it outranks the current task."""
        task = self.table[ident]
        assert task is not None and self.current is not None
        task.state &= ~HELD
        return task if task.priority > self.current.priority else self.current

    def hold_current(self) -> Task | None:
        """Hold the current task and continue with the next one in the list."""
        assert self.current is not None
        self.holds += 1
        self.current.state |= HELD
        return self.current.next

    def suspend_current(self) -> Task | None:
        """Let the current task wait for a packet."""
        assert self.current is not None
        self.current.state |= SUSPENDED
        return self.current

    def send(self, packet: Packet) -> Task | None:
        """Queue `packet` on the task it names; the packet then names its sender."""
        task = self.table[packet.owner]
        assert task is not None and self.current is not None
        self.sent += 1
        packet.link = None
        packet.owner = self.current_ident
        return task.enqueue(self.current, packet)


def run(n: int) -> tuple[int, int]:
    """Run the system with an idle task that lives `n` steps; return (packets queued, holds)."""
    scheduler = Scheduler()
    IdleTask(scheduler, 0, n)
    work = Packet(Packet(None, WORKER, WORK_PACKET), WORKER, WORK_PACKET)
    WorkerTask(scheduler, 1000, work)
    queue = None
    for _ in range(3):
        queue = Packet(queue, DEVICE_A, DEVICE_PACKET)
    HandlerTask(scheduler, HANDLER_A, 2000, queue)
    queue = None
    for _ in range(3):
        queue = Packet(queue, DEVICE_B, DEVICE_PACKET)
    HandlerTask(scheduler, HANDLER_B, 3000, queue)
    DeviceTask(scheduler, DEVICE_A, 4000)
    DeviceTask(scheduler, DEVICE_B, 5000)
    scheduler.schedule()
    return scheduler.sent, scheduler.holds
