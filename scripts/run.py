"""`make run`: embedded services (unless configured), migrate, demo data, then daphne + Celery
worker (default and gpu queues) + beat + DICOM C-STORE receiver. Ctrl-C stops all of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts import services

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
HOST = os.environ.get("NODUS_HOST", "127.0.0.1")
PORT = os.environ.get("NODUS_PORT", "8000")


def spawn(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Own session: Ctrl-C reaches only this orchestrator, which then stops children in order.
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def available_commands(env: dict[str, str]) -> set[str]:
    out = subprocess.run([PY, "manage.py", "help", "--commands"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def main() -> int:
    t0 = time.time()
    embedded = services.start()
    env = dict(os.environ, **embedded.env)
    env.setdefault("NODUS_DEMO", "1")
    env.setdefault("DEBUG", "0")
    env.setdefault("PYTHONUNBUFFERED", "1")
    children: list[subprocess.Popen[bytes]] = []

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.time() + 15
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                child.kill()
        embedded.stop()

    # Background jobs of non-interactive shells start with SIGINT ignored; Ctrl-C must still work.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    pid_file = services.DATA / "run.pid"  # lets scripts (CI's smoke test) stop this run cleanly
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    try:
        manage("migrate", "--noinput", "-v", "0", env=env)
        commands = available_commands(env)
        # Models first, so the demo series ingested next are queued for pre-annotation.
        if "register_starter_models" in commands:
            manage("register_starter_models", env=env)
        if "load_demo" in commands:
            manage("load_demo", env=env)  # idempotent: does nothing on a second start
        celery = [PY, "-m", "celery", "-A", "webapp.config"]
        children.append(spawn(
            [PY, "-m", "daphne", "-b", HOST, "-p", PORT, "webapp.config.asgi:application"], env))
        children.append(spawn(
            [*celery, "worker", "-Q", "default,gpu", "--concurrency", "1", "-l", "INFO",
             "-n", "nodus@%h"], env))
        children.append(spawn([*celery, "beat", "-l", "INFO"], env))
        if "dicom_scp" in commands:
            children.append(spawn([PY, "manage.py", "dicom_scp"], env))
        print(
            f"\nNodus is running at http://{HOST}:{PORT}/  (ready in {time.time() - t0:.1f}s)\n"
            "Demo logins (password nodus-demo): admin, annotator, reviewer\n"
            "Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a Nodus process exited; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()
        pid_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
