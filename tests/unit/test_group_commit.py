"""Group commit on SQLite (sportello.store.group_commit): writers that queue together commit together,
each in its own savepoint; a failing writer is rolled back alone; a write returns only once committed."""

import sqlite3
import threading

import pytest
from sqlalchemy import text

from sportello.store.database import make_engine
from sportello.store.group_commit import FifoLock, GroupCommitter

pytestmark = pytest.mark.unit


@pytest.fixture
def committer(tmp_path):
    path = tmp_path / "g.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    yield GroupCommitter(engine, max_group=16), path
    engine.dispose()


def _count(path) -> int:
    with sqlite3.connect(path) as raw:  # another connection: sees only what is committed
        return raw.execute("SELECT count(*) FROM t").fetchone()[0]


def test_concurrent_writers_are_grouped_and_every_row_is_committed_when_write_returns(committer):
    gc, path = committer
    seen_after_return: list[bool] = []
    gate = threading.Barrier(12)

    def writer(i: int) -> None:
        gate.wait()
        for j in range(40):
            with gc.write() as conn:
                conn.execute(text("INSERT INTO t (k, v) VALUES (:k, 'x')"), {"k": i * 1000 + j})
            with sqlite3.connect(path) as raw:
                seen_after_return.append(
                    raw.execute("SELECT 1 FROM t WHERE k = ?", (i * 1000 + j,)).fetchone() is not None
                )

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert _count(path) == 480 == gc.transactions
    assert all(seen_after_return) and len(seen_after_return) == 480
    assert gc.commits < gc.transactions  # some grouping happened under contention


def test_a_failing_writer_is_rolled_back_alone_and_sees_its_error(committer):
    gc, path = committer
    hold = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:  # holds the lock so that the others queue into one group
        with gc.write() as conn:
            conn.execute(text("INSERT INTO t (k, v) VALUES (1, 'a')"))
            hold.set()
            release.wait(5)

    def bad() -> None:
        try:
            with gc.write() as conn:
                conn.execute(text("INSERT INTO t (k, v) VALUES (2, 'b')"))
                conn.execute(text("INSERT INTO t (k, v) VALUES (1, 'dup')"))  # primary key clash
        except Exception as exc:
            errors.append(exc)

    def good() -> None:
        with gc.write() as conn:
            conn.execute(text("INSERT INTO t (k, v) VALUES (3, 'c')"))

    t1 = threading.Thread(target=first)
    t1.start()
    assert hold.wait(5)
    others = [threading.Thread(target=bad), threading.Thread(target=good)]
    for th in others:
        th.start()
    while gc._lock.waiting() < 2:
        threading.Event().wait(0.001)
    release.set()
    for th in (t1, *others):
        th.join(5)
    assert len(errors) == 1 and "UNIQUE" in str(errors[0])
    with sqlite3.connect(path) as raw:
        assert sorted(r[0] for r in raw.execute("SELECT k FROM t")) == [1, 3]
    assert gc.commits == 1 and gc.transactions == 3


def test_a_lone_writer_commits_at_once_and_the_lock_is_free_after_an_error(committer):
    gc, path = committer
    with gc.write() as conn:
        conn.execute(text("INSERT INTO t (k, v) VALUES (1, 'a')"))
    assert _count(path) == 1 and gc.commits == 1
    with pytest.raises(RuntimeError), gc.write() as conn:
        conn.execute(text("INSERT INTO t (k, v) VALUES (2, 'b')"))
        raise RuntimeError("boom")
    with gc.write() as conn:
        conn.execute(text("INSERT INTO t (k, v) VALUES (3, 'c')"))
    with sqlite3.connect(path) as raw:
        assert sorted(r[0] for r in raw.execute("SELECT k FROM t")) == [1, 3]


def test_fifo_lock_grants_in_arrival_order():
    lock = FifoLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for i in range(8):
        th = threading.Thread(target=lambda i=i: (lock.acquire(), order.append(i), lock.release()))
        th.start()
        while lock.waiting() < i + 1:
            threading.Event().wait(0.001)
        threads.append(th)
    lock.release()
    for th in threads:
        th.join(5)
    assert order == list(range(8))


def test_threads_take_turns_at_the_gil_more_often_only_while_a_write_lock_is_held(committer, tmp_path):
    """Each statement of a write lets go of the GIL: while a write lock is held, the interpreter switches
    threads every HOLD_SWITCH_S so the holder gets it back sooner; before and after, the process's own
    interval, also across two stores whose holds overlap, and after a write that failed."""
    import sys

    from sportello.store.group_commit import HOLD_SWITCH_S

    gc, _ = committer
    other_engine = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    other = GroupCommitter(other_engine)
    before = sys.getswitchinterval()
    assert before > HOLD_SWITCH_S
    try:
        with gc.write() as conn:
            conn.execute(text("INSERT INTO t (k, v) VALUES (1, 'x')"))
            assert sys.getswitchinterval() == pytest.approx(HOLD_SWITCH_S)
        assert sys.getswitchinterval() == pytest.approx(before)
        first = gc.write()
        first.__enter__()
        with other.write():
            assert sys.getswitchinterval() == pytest.approx(HOLD_SWITCH_S)
            first.__exit__(None, None, None)  # the first store's write ends while the other's is held
            assert sys.getswitchinterval() == pytest.approx(HOLD_SWITCH_S)
        assert sys.getswitchinterval() == pytest.approx(before)
        with pytest.raises(RuntimeError), gc.write():
            raise RuntimeError("a failed write")
        assert sys.getswitchinterval() == pytest.approx(before)
    finally:
        other_engine.dispose()
        sys.setswitchinterval(before)
