#!/usr/bin/env python3
"""What systemd does with deploy/systemd/herald.socket and herald.service, for the tests.

    socket-activate.py PORT METRICS_PORT -- herald [ARGS...]

Holds two listening sockets on 127.0.0.1 (the main port and the metrics port) and runs the
command with them as descriptors 3 and 4 (LISTEN_FDS=2, LISTEN_PID = the command's pid), as
systemd's socket activation does. SIGHUP is `systemctl restart herald`: SIGTERM to the running
process, wait for it to exit, start a new one on the same sockets (connection attempts queue
in the kernel meanwhile). SIGTERM stops the process and exits.
"""
import os
import signal
import socket
import subprocess
import sys


def listen(port, fd):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(4096)
    os.dup2(s.fileno(), fd)  # out of the way of 3 and 4
    return s


def main():
    port, metrics_port = int(sys.argv[1]), int(sys.argv[2])
    command = sys.argv[sys.argv.index("--") + 1:]
    sockets = [listen(port, 10), listen(metrics_port, 11)]

    def prepare():
        for src, dst in ((10, 3), (11, 4)):
            os.dup2(src, dst)
            os.set_inheritable(dst, True)
        os.environ["LISTEN_FDS"] = "2"
        os.environ["LISTEN_PID"] = str(os.getpid())

    def start():
        child = subprocess.Popen(command, close_fds=False, preexec_fn=prepare)
        print(f"started {child.pid}", flush=True)
        return child

    state = {"child": start(), "restart": False, "stop": False}

    def on_hup(*_):
        state["restart"] = True
        state["child"].send_signal(signal.SIGTERM)

    def on_term(*_):
        state["stop"] = True
        state["child"].send_signal(signal.SIGTERM)

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    while True:
        state["child"].wait()
        if state["stop"] or not state["restart"]:
            break
        state["restart"] = False
        state["child"] = start()
    del sockets


if __name__ == "__main__":
    main()
