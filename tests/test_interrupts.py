"""The signal handler runs in the main thread between any two bytecodes, also while that thread holds the
interrupts lock (registering a Terraform child, forwarding a signal): it must never wait for itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# In a child process, so a handler that waits on a lock its own thread holds fails by timeout, not by
# hanging the suite.
PROBE = textwrap.dedent(
    """
    import os, signal, time
    from roachcert import interrupts

    with interrupts.handling():
        try:
            with interrupts._state.lock:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.5)  # the handler runs here, in this thread, inside the lock
        except interrupts.Interrupted as exc:
            print("interrupted", exc.exit_code)
    """
)


def test_a_signal_while_the_main_thread_holds_the_lock_is_handled_at_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.stdout.strip() == "interrupted 130", done.stderr
