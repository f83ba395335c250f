"""Slow calls from a libvirt-python client, for the starvation tests.

usage: slow_calls.py URI CALL N INTERVAL COUNT SECONDS [FIFO_DIR]

The client runs libvirt's default event loop (so it advertises keepalive), opens URI, calls
conn.setKeepAlive(INTERVAL, COUNT), registers a close callback, and then starts N threads that each make one slow
call at once, all on this one connection:
  save      dom.save(FIFO_DIR/fifo<i>) on the test driver's domain "test": the daemon blocks in open() until someone
            opens the FIFO for reading
  hostname  conn.getHostname(): slow when the server's handler is
It answers every PING meanwhile (the event loop keeps running). It prints, with the seconds since the calls started:
"calls N", "reply <i> ok|error <message>", "close callback <reason>", and at the end "alive <0|1> replies <k>".
It ends after SECONDS, or as soon as every call has its reply.
"""
import sys
import threading
import time

import libvirt

uri, call, n, interval, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
fifo_dir = sys.argv[7] if len(sys.argv) > 7 else None
lock = threading.Lock()
replies = []
start = time.monotonic()


def say(*words):
    with lock:
        # one write per line: libvirt's warnings on stderr never land inside it
        sys.stdout.write(" ".join([f"{time.monotonic() - start:.3f}", *map(str, words)]) + "\n")
        sys.stdout.flush()


def event_loop():
    while True:
        libvirt.virEventRunDefaultImpl()


libvirt.virEventRegisterDefaultImpl()
threading.Thread(target=event_loop, daemon=True).start()
conn = libvirt.open(uri)
conn.setKeepAlive(interval, count)
conn.registerCloseCallback(lambda c, reason, opaque: say("close callback", reason), None)
dom = conn.lookupByName("test") if call == "save" else None


def one(i):
    try:
        if call == "save":
            dom.save(f"{fifo_dir}/fifo{i}")
        else:
            conn.getHostname()
        outcome = "ok"
    except libvirt.libvirtError as e:
        outcome = f"error {e}"
    with lock:
        replies.append(i)
    say("reply", i, outcome)


start = time.monotonic()
say("calls", n)
for i in range(n):
    threading.Thread(target=one, args=(i,), daemon=True).start()
while time.monotonic() - start < seconds and len(replies) < n:
    time.sleep(0.05)
say("alive", conn.isAlive(), "replies", len(replies))
