"""Kill ``kb index`` at random moments and check the index survives.

Shared by ``tests/test_safety_faults.py`` (a modest loop) and
``bench/stress_kill.py`` (hundreds of kills).

One round:

1. the corpus changes (a quarter of the files rewritten, a few deleted and
   added; every fourth round is a ``--rebuild``);
2. ``kb index`` starts in a subprocess; once it holds the writer lock
   (``kb.lock`` holds its pid) it gets ``SIGKILL`` after a random delay
   drawn from the measured length of an update;
3. the kill is classified: *mid-update* when the process was still running,
   had begun writing (new files appeared in the index folder) and the index
   still shows the previous state; *early* when nothing had been written
   yet; *late* when the new state was already switched in (a kill after the
   update ended proves nothing, so only mid-update kills are counted);
4. after every kill the index must be exactly the previous one: the same
   passages and the same ranked results with the same scores, for several
   queries; a state that is neither the previous nor the complete new one
   is a failure;
5. the next ``kb index`` runs to completion and must hold exactly the
   passages a clean build of the corpus holds (checked against the parser,
   and at the end against a real clean build).  After about half of the
   kills the next ``kb index`` is itself killed first, so updates also start
   from the leftovers of killed ones.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from kb import integrity

from .corpusgen import make_corpus, mutate

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ("bystander intervention", '"focal point"', "lantern OR zebra")
TOP = 20  #: ranked results compared per query (with their scores)


def kb_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["NO_COLOR"] = "1"
    return env


def kb_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "kb", *args]


def default_sigint() -> None:
    """In a child process: Ctrl-C (SIGINT) acts.  A test run started in the
    background by a shell without job control (`pytest &` in a script, as a CI
    runner may) passes SIGINT on as ignored, and Python then leaves it ignored, so
    a test that sends SIGINT would find kb deaf to it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_kb(*args: str) -> subprocess.Popen[bytes]:
    """``kb ARGS`` in the background; finish with ``communicate()`` (closes the pipe)."""
    return subprocess.Popen(kb_cmd(*args), cwd=ROOT, env=kb_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=default_sigint)


def run_kb(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(kb_cmd(*args), cwd=ROOT, env=kb_env(), capture_output=True,
                          text=True, timeout=timeout)


# ---------------------------------------------------------------- snapshots


def snapshot(corpus: Path, index: Path) -> dict[str, object]:
    """Everything a user can see of an index: passages, documents, ranked results."""
    from kb.api import KnowledgeBase

    with KnowledgeBase(corpus=corpus, index=index) as kb:
        passages = {p.id: (p.text, p.line_start, p.line_end, p.section)
                    for p in kb.passages()}
        docs = sorted((d.id, d.passages) for d in kb.documents())
        results = {}
        for q in QUERIES:
            r = kb.search(q, limit=TOP)
            results[q] = (r.total, [(h.id, h.score) for h in r.hits])
    return {"passages": passages, "docs": docs, "results": results}


def same_matches(a: dict[str, object], b: dict[str, object]) -> bool:
    """Same passages, documents and number of matches per query.

    Scores and so the order of the top hits after incremental updates may
    differ slightly from a clean build (BM25 statistics keep counting deleted
    passages until segments merge), so this compares what matched."""
    ra, rb = a["results"], b["results"]
    assert isinstance(ra, dict) and isinstance(rb, dict)
    return (a["passages"] == b["passages"] and a["docs"] == b["docs"]
            and all(ra[q][0] == rb[q][0] for q in QUERIES))


class Expected:
    """The passages a clean build of the corpus holds, parsed directly (cached by content)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, bytes], dict[str, tuple[object, ...]]] = {}

    def passages(self, corpus: Path) -> dict[str, tuple[object, ...]]:
        from kb.corpus import walk
        from kb.load import load

        out: dict[str, tuple[object, ...]] = {}
        for f in walk(corpus).files:
            data = Path(f.path).read_bytes()
            key = (f.id, data)
            if key not in self._cache:
                self._cache[key] = {p.id: (p.text, p.line_start, p.line_end, p.section)
                                    for p in load(f).passages}
            out.update(self._cache[key])
        return out


def tree(index: Path) -> set[str]:
    out = set()
    for root, _dirs, files in os.walk(index):
        for name in files:
            out.add(os.path.relpath(os.path.join(root, name), index))
    out.discard("kb.lock")
    return out


def _lock_pid(index: Path) -> str:
    try:
        return (index / "kb.lock").read_text().strip()
    except OSError:
        return ""


# ---------------------------------------------------------------- the loop


@dataclass
class KillStats:
    attempts: int = 0
    mid: int = 0  #: killed mid-update: counted
    mid_rebuild: int = 0
    early: int = 0  #: killed after taking the lock, before writing anything
    late: int = 0  #: killed after the new state was switched in
    finished: int = 0  #: finished before the kill
    completions: int = 0  #: uninterrupted `kb index` runs after kills, all checked
    seconds: float = 0.0
    update_seconds: float = 0.0
    passages: int = 0
    log: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.mid} kills landed mid-update ({self.mid_rebuild} of them in a "
                f"--rebuild) out of {self.attempts} kill attempts; {self.early} landed "
                f"before writing began, {self.late} after the switch, {self.finished} "
                f"finished first; previous index intact after every kill; "
                f"{self.completions} following updates matched a clean build; "
                f"corpus ~{self.passages} passages, update ~{self.update_seconds:.2f} s; "
                f"{self.seconds:.0f} s in all")


def kill_loop(tmp: Path, kills: int = 20, files: int = 40, seed: int = 1,
              max_attempts: int | None = None, chain: float = 0.5,
              verbose: bool = False) -> KillStats:
    """Run rounds until ``kills`` kills have landed mid-update.  Raises AssertionError
    on any damage; returns the counts.  ``chain``: the probability that a killed
    update is followed by another killed one rather than by a complete one."""
    t_start = time.perf_counter()
    rng = random.Random(seed)
    corpus, index = tmp / "corpus", tmp / "index"
    make_corpus(corpus, files=files, seed=seed)
    loc = ("--corpus", str(corpus), "--index", str(index))
    expected = Expected()
    stats = KillStats()
    max_attempts = max_attempts or kills * 4

    # First: kill the very first build a few times (there is no previous index).
    for delay in (0.3, 0.6):
        p = start_kb("index", *loc)
        time.sleep(delay)
        if p.poll() is None:
            p.kill()
        p.communicate()
    r = run_kb("index", *loc)
    assert r.returncode == 0, r.stderr
    prev = snapshot(corpus, index)
    assert prev["passages"] == expected.passages(corpus)
    stats.passages = len(prev["passages"])  # type: ignore[arg-type]

    # Calibrate: how long an update takes once the lock is held.
    step = 0
    durations = []
    for _ in range(2):
        step += 1
        mutate(corpus, step, fraction=0.25)
        p = start_kb("index", *loc)
        while _lock_pid(index) != str(p.pid) and p.poll() is None:
            time.sleep(0.002)
        t0 = time.perf_counter()
        _, err = p.communicate()
        durations.append(time.perf_counter() - t0)
        assert p.returncode == 0, err
    stats.update_seconds = max(durations)
    prev = snapshot(corpus, index)

    while stats.mid < kills and stats.attempts < max_attempts:
        step += 1
        stats.attempts += 1
        rebuild = step % 4 == 0
        mutate(corpus, step, fraction=0.25)
        args = ("index", "--rebuild", *loc) if rebuild else ("index", *loc)
        before = tree(index)
        p = start_kb(*args)
        while _lock_pid(index) != str(p.pid) and p.poll() is None:
            time.sleep(0.002)
        # Half the kills uniformly over the update, half in its last third
        # (where the commit and the switch happen).
        span = stats.update_seconds * 1.1
        delay = rng.uniform(0, span) if rng.random() < 0.5 else rng.uniform(span * 0.6, span)
        time.sleep(delay)
        running = p.poll() is None
        if running:
            p.send_signal(signal.SIGKILL)
        p.communicate()
        t_kill = time.perf_counter()
        after = snapshot(corpus, index)
        # the checksums recorded at commit agree with the files, whatever the moment
        # of the kill (kb.integrity: the manifest is written before the commit)
        checked = integrity.check(index)
        assert checked.sound, f"round {step}: after a kill: {checked.problems}"
        new_files = tree(index) - before
        if not running:
            stats.finished += 1
            kind = "finished"
            assert p.returncode == 0
        elif after == prev:
            if new_files:
                stats.mid += 1
                stats.mid_rebuild += rebuild
                kind = "MID"
            else:
                stats.early += 1
                kind = "early"
        else:
            # the new state must be complete, never a mixture
            assert after["passages"] == expected.passages(corpus), \
                f"round {step}: after a kill the index is neither the old nor the new state"
            stats.late += 1
            kind = "late"
        line = (f"round {step:3d} {'rebuild' if rebuild else 'update '} delay {delay:.3f}s "
                f"-> {kind} ({len(new_files)} new files)")
        stats.log.append(line)
        if verbose:
            print(line, flush=True)
        # The next kb index completes and equals a clean build.  After about half
        # of the mid-update kills the next run is killed again first (on top of
        # the leftovers of the first).
        if kind in ("MID", "early") and rng.random() < chain and stats.mid < kills:
            continue
        t_snap = time.perf_counter()
        r = run_kb("index", *loc)
        assert r.returncode == 0, f"round {step}: {r.stderr}"
        t_done = time.perf_counter()
        prev = snapshot(corpus, index)
        if verbose:
            print(f"    snapshot {t_snap - t_kill:.2f}s, completion {t_done - t_snap:.2f}s, "
                  f"snapshot {time.perf_counter() - t_done:.2f}s", flush=True)
        assert prev["passages"] == expected.passages(corpus), f"round {step}: not a clean build"
        checked = integrity.check(index)
        assert checked.sound and checked.recorded, f"round {step}: {checked.problems}"
        stats.completions += 1
        # No leftovers pile up: one generation folder.
        gens = [n for n in os.listdir(index) if n.startswith("g")]
        assert len(gens) == 1, gens

    # Finally compare with a real clean build, through search.
    r = run_kb("index", *loc)
    assert r.returncode == 0, r.stderr
    prev = snapshot(corpus, index)
    assert prev["passages"] == expected.passages(corpus)
    clean = tmp / "clean-index"
    r = run_kb("index", "--corpus", str(corpus), "--index", str(clean))
    assert r.returncode == 0, r.stderr
    assert same_matches(prev, snapshot(corpus, clean))
    stats.seconds = time.perf_counter() - t_start
    return stats
