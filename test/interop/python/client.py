"""A libvirt-python client for the interop tests.

usage: client.py URI MODE SECONDS [INTERVAL COUNT]

MODE:
  plain          register libvirt's default event loop and run it (so the client advertises keepalive)
  keepalive      as plain, and call conn.setKeepAlive(INTERVAL, COUNT)
  stall          as plain, but stop running the event loop right after opening (keepalive was advertised)
  no-event-loop  register no event loop: the client does not advertise keepalive

It prints one line per step ("opened", "setKeepAlive <rc>", "alive <0|1>", "closed", or "open failed: <error>",
"error: <error>") and exits 0, or 3 when the open failed.
"""
import sys
import threading
import time

import libvirt

uri, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
interval = int(sys.argv[4]) if len(sys.argv) > 4 else 1
count = int(sys.argv[5]) if len(sys.argv) > 5 else 2
running = {"on": True}


def say(*words):
    # one write per line: libvirt's warnings on stderr never land inside it
    sys.stdout.write(" ".join(map(str, words)) + "\n")
    sys.stdout.flush()


def event_loop():
    while True:
        if running["on"]:
            libvirt.virEventRunDefaultImpl()
        else:
            time.sleep(0.01)


def on_close(conn, reason, opaque):
    say("close callback", reason)


if mode != "no-event-loop":
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=event_loop, daemon=True).start()

try:
    conn = libvirt.open(uri)
except libvirt.libvirtError as e:
    say("open failed:", e)
    sys.exit(3)
say("opened")
if mode == "keepalive":
    say("setKeepAlive", conn.setKeepAlive(interval, count))
if mode == "stall":
    running["on"] = False
try:
    time.sleep(seconds)
    say("alive", conn.isAlive())
    conn.close()
    say("closed")
except libvirt.libvirtError as e:
    say("error:", e)
