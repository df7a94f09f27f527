"""Where maildesk's time goes: py-spy recordings of the server, and a summary of them.

`maildesk bench --py-spy DIR` attaches `py-spy record --format raw --threads
--full-filenames` to the maildesk process for each maildesk phase and writes
`DIR/<phase>.txt` (collapsed stacks: one line per distinct stack, frames
separated by `;`, then the sample count), plus `DIR/<phase>.summary.txt`.
Sampling pauses the server briefly at every sample, so figures from a
profiled run are not the benchmark's figures; run it again without.

Read the `half-load` recording first (the open-loop run at half the peak).
When the machine's cores are saturated, as in the closed-loop runs on a
2-core machine, py-spy itself gets a core mostly when maildesk blocks in a
system call, so its samples over-weight system calls (socket writes, the
event loop's self-pipe) and under-weight pure Python work.

py-spy's own idle detection does not work everywhere (in containers it
reports threads blocked in `epoll`, a queue or a lock as running), so the
summary decides for itself: a sample whose innermost frame is a line that
waits (`.poll(`, `.select(`, `.get(`, `.wait(`, `.acquire(`, `sleep(`) is
idle and left out. Everything else counts, including SQLite's own work and
its fsync (the line in the SQLite worker thread that calls into sqlite3).

`python -m service.bench.profile FILE…` prints the summary of recordings:

- per thread: samples, and the share of them that were busy (the event loop
  thread, the thread `BEGIN IMMEDIATE` and a slow `COMMIT` run in, anyio's
  worker threads that run `parse_mail`);
- where the busy time goes, exclusively: each busy sample is charged to the
  nearest maildesk module (or library) found walking up from its innermost
  frame, so stdlib `email` under `parse_mail` counts as inbound parsing;
- named stages, inclusively (a sample counts for every stage on its stack);
- self time by function and by module, and inclusive time by function.

Shares are of busy samples over all threads; the per-thread lines tell how
busy each thread was, so "45% of busy samples in SQLite" and "the event loop
thread was busy 60% of the time" can both be read off.
"""

from __future__ import annotations

import linecache
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import Process

from service.bench.servers import _open_log, stop_process

RATE = 100
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

INCLUSIVE: tuple[tuple[str, str], ...] = (
    ("Intake.receive (one inbound message)", r"\breceive \([^;]*inbound/intake\.py"),
    ("  parse_mail", r"\bparse_mail \("),
    ("  new_text (reply and quote stripping)", r"\bnew_text \("),
    ("  Desk.apply (the funnel transaction)", r"\bapply \([^;]*service/desk/funnel\.py"),
    (
        "  Desk.keep / notify_address",
        r"\b(keep|notify_address) \([^;]*service/desk/funnel\.py",
    ),
    ("  state machine (service/domain)", r"service/domain/"),
    (
        "repositories (all SQL, on the loop thread)",
        r"service/store/(vendors|orders|tickets|timers|outbox|inbound|settings)\.py",
    ),
    (
        "aiosmtpd protocol (smtp.py, our adapter)",
        r"aiosmtpd/smtp\.py|service/adapters/aiosmtpd\.py",
    ),
    ("OutboxWorker.run_once", r"\brun_once \([^;]*outbound/outbox\.py"),
    ("  Composer.compose", r"\bcompose \([^;]*outbound/compose\.py"),
    ("  Renderer.render (Jinja)", r"\brender \([^;]*outbound/render\.py"),
    ("  build_message (MIME)", r"\bbuild_message \("),
    ("  relay send (aiosmtplib)", r"\bsend \([^;]*outbound/transport\.py"),
    ("Scheduler.run_due", r"\brun_due \("),
    ("web/HTTP (uvicorn, starlette)", r"uvicorn/|starlette/"),
)
"""Named stages; a sample counts for every stage on its stack."""

BUCKETS: tuple[tuple[str, str], ...] = (
    ("reply stripping (inbound/reply_text.py)", "service/inbound/reply_text.py"),
    ("inbound headers (inbound/parse.py, mail-parser's scanner)", "service/inbound/parse.py"),
    ("inbound MIME parts (inbound/mail_body.py, stdlib email)", "service/inbound/mail_body.py"),
    ("inbound text decoding (inbound/mail_text.py, html2text)", "service/inbound/mail_text.py"),
    ("automatic-mail/DMARC guard (inbound/guard.py)", "service/inbound/guard.py"),
    ("rendering (outbound/render.py, Jinja)", "service/outbound/render.py"),
    ("MIME building (outbound/message.py)", "service/outbound/message.py"),
    ("compose context (outbound/compose.py)", "service/outbound/compose.py"),
    ("representations (ticket/order JSON)", "service/representations.py"),
    ("relay transport (outbound/transport.py, adapters/aiosmtplib.py)", "outbound/transport.py"),
    ("relay client's DATA (adapters/aiosmtplib.py)", "service/adapters/aiosmtplib.py"),
    ("outbox worker (outbound/outbox.py)", "service/outbound/outbox.py"),
    ("reply addresses/HMAC (outbound/addresses.py)", "service/outbound/addresses.py"),
    ("state machine (domain/)", "service/domain/"),
    ("store wrapper (store/sqlite.py)", "service/store/sqlite.py"),
    ("SQL calls and row decoding (store/ repositories)", "service/store/"),
    ("funnel (desk/)", "service/desk/"),
    ("use cases (usecases/)", "service/usecases/"),
    ("email door (inbound/acting.py)", "service/inbound/acting.py"),
    ("intake (inbound/intake.py)", "service/inbound/intake.py"),
    ("routing (inbound/route.py)", "service/inbound/route.py"),
    ("listener handler (inbound/smtp.py)", "service/inbound/smtp.py"),
    ("SMTP session (adapters/aiosmtpd.py: deadlines, DATA in chunks)", "adapters/aiosmtpd.py"),
    ("scheduler (scheduler.py)", "service/scheduler.py"),
    ("web (service/web, uvicorn, starlette)", "service/web/"),
    ("aiosmtpd SMTP protocol (reading lines, replies)", "aiosmtpd/"),
    ("aiosmtplib (SMTP client)", "aiosmtplib/"),
    ("uvicorn/starlette", "uvicorn/"),
    ("html2text", "html2text/"),
    ("mail-parser", "mailparser/"),
)
"""Exclusive: each sample goes to the first of these found walking up from its leaf frame."""

GENERIC: tuple[tuple[str, str], ...] = (
    ("anyio (to_thread hand-offs, task groups, locks)", "anyio/"),
    ("asyncio event loop itself (select, scheduling, transports)", "asyncio/"),
    ("threading/queue", "threading.py"),
)
"""Only when none of `BUCKETS` is on the stack: what is left is the loop's own work."""


_WAITS = re.compile(r"\.(poll|select|get|wait|acquire|join)\(|\bsleep\(")


@dataclass
class Summary:
    total: int = 0
    busy: int = 0
    threads: Counter[str] = field(default_factory=Counter)
    threads_busy: Counter[str] = field(default_factory=Counter)
    self_time: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    modules: Counter[str] = field(default_factory=Counter)
    stages: Counter[str] = field(default_factory=Counter)
    buckets: Counter[str] = field(default_factory=Counter)
    thread_buckets: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, frames: list[str], count: int) -> None:
        thread = "(one thread)"
        if frames and frames[0].startswith("thread ("):
            thread = _thread_kind(frames[0])
            frames = frames[1:]
        if not frames:
            return
        self.total += count
        self.threads[thread] += count
        if _is_waiting(frames[-1]):
            return
        self.busy += count
        self.threads_busy[thread] += count
        self.self_time[_name(frames[-1])] += count
        self.modules[_module(frames[-1])] += count
        for name in {_name(f) for f in frames}:
            self.inclusive[name] += count
        stack = ";".join(frames)
        for stage, pattern in INCLUSIVE:
            if re.search(pattern, stack):
                self.stages[stage] += count
        bucket = _bucket(frames)
        self.buckets[bucket] += count
        self.thread_buckets.setdefault(thread, Counter())[bucket] += count


def _is_waiting(frame: str) -> bool:
    match = _FRAME.match(frame)
    if match is None or not match.group("line"):
        return False
    line = linecache.getline(match.group("file"), int(match.group("line")))
    return bool(_WAITS.search(line))


def _bucket(frames: list[str]) -> str:
    for table in (BUCKETS, GENERIC):
        for frame in reversed(frames):
            for bucket, marker in table:
                if marker in frame:
                    return bucket
    return "other (" + _module(frames[-1]) + ")"


def _thread_kind(frame: str) -> str:
    """`thread (123): MainThread` and the like, with anyio's many workers as one."""
    name = frame.partition(": ")[2] or frame
    if name.startswith("AnyIO worker thread"):
        return "AnyIO worker threads (to_thread: parse_mail)"
    if "_connection_worker_thread" in name:
        return f"{name.split(' ')[0]} (aiosqlite connection)"
    if name == "MainThread":
        return "MainThread (the event loop)"
    return name


def _split(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    if match is None:
        return frame, ""
    return match.group("func"), match.group("file")


def _short_file(path: str) -> str:
    for marker in ("site-packages/", "/service/", "/lib/python3"):
        if marker in path:
            tail = path.split(marker, 1)[1]
            if marker == "/lib/python3":
                tail = "stdlib " + tail.split("/", 1)[-1]
            elif marker == "/service/":
                tail = "service/" + tail
            return tail
    return path


def _name(frame: str) -> str:
    func, file = _split(frame)
    return f"{func} ({_short_file(file)})" if file else func


def _module(frame: str) -> str:
    _, file = _split(frame)
    short = _short_file(file)
    if short.startswith("service/"):
        return short.removesuffix(".py").replace("/", ".")
    if short.startswith("stdlib "):
        part = short.removeprefix("stdlib ").split("/")
        return "stdlib " + (part[0] if len(part) > 1 else part[0].removesuffix(".py"))
    return short.split("/", 1)[0] if short else "(native/unknown)"


def read(paths: Iterable[Path]) -> Summary:
    summary = Summary()
    for path in paths:
        for line in path.read_text("utf-8", "replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                summary.add(stack.split(";"), int(count))
    return summary


def render(summary: Summary, top: int = 25) -> str:
    busy = summary.busy or 1
    lines = [
        f"{summary.total} samples, {summary.busy} busy ({summary.busy / RATE:.1f} s of busy "
        f"thread time at {RATE} Hz); shares below are of busy samples"
    ]
    lines.append("")
    lines.append("by thread: busy samples, share of all busy samples, and how busy the thread was")
    for name, count in summary.threads.most_common():
        working = summary.threads_busy[name]
        lines.append(
            f"  {working:6d}  {100 * working / busy:5.1f}%  busy {100 * working / count:5.1f}%"
            f" of its {count} samples  {name}"
        )

    def block(title: str, counter: Counter[str], limit: int) -> None:
        lines.append("")
        lines.append(title)
        for name, count in counter.most_common(limit):
            lines.append(f"  {100 * count / busy:5.1f}%  {name}")

    block("where the busy time goes (exclusive: nearest named frame)", summary.buckets, 40)
    for thread, counter in sorted(
        summary.thread_buckets.items(), key=lambda kv: -summary.threads_busy[kv[0]]
    ):
        own = summary.threads_busy[thread] or 1
        lines.append("")
        lines.append(f"{thread}: where its busy time goes (share of its own busy samples)")
        for name, count in counter.most_common(15):
            lines.append(f"  {100 * count / own:5.1f}%  {name}")
    block("stages (inclusive: a sample counts for every stage on its stack)", summary.stages, 30)
    block("self time by package/module", summary.modules, top)
    block("self time by function", summary.self_time, top)
    block("inclusive by function", summary.inclusive, top)
    return "\n".join(lines)


class Recording:
    """One py-spy process recording one maildesk phase."""

    def __init__(self, process: Process, output: Path) -> None:
        self.process = process
        self.output = output

    async def stop(self) -> Path:
        await stop_process(self.process, signal.SIGINT, grace=30)
        if self.output.exists():
            summary_path = self.output.with_suffix(".summary.txt")
            summary_path.write_text(render(read([self.output])) + "\n", "utf-8")
        return self.output


class Profiler:
    """Starts py-spy recordings into `directory`, one file per phase."""

    def __init__(self, directory: Path) -> None:
        executable = shutil.which("py-spy")
        if executable is None:
            raise RuntimeError("--py-spy needs py-spy on PATH: pip install py-spy")
        self.executable = executable
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def start(self, pid: int, phase: str) -> Recording:
        output = self.directory / f"{phase}.txt"
        command = [
            self.executable,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--threads",
            "--full-filenames",
            "--output",
            str(output),
        ]
        log = self.directory / f"{phase}.py-spy.log"
        sink = _open_log(log)
        try:
            process = await anyio.open_process(command, stdout=sink, stderr=sink)
        finally:
            sink.close()  # the child keeps its own copy of the descriptor
        await anyio.sleep(0.3)  # let it attach before the phase starts
        return Recording(process, output)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("usage: python -m service.bench.profile RAW_FILE…", file=sys.stderr)
        return 2
    print(render(read(paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
