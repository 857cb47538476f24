"""The store at start-up: one owner per SQLite file, one-line errors, busy."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from zoozl.store.database import is_busy
from zoozl.store.opening import StoreUnavailable, open_store, shown_url
from zoozl.store.sqlite_files import StoreOwned, own_store


def test_a_second_owner_of_a_sqlite_store_is_refused_with_file_and_pid(tmp_path):
    url = f"sqlite:///{tmp_path}/z.db"
    first = own_store(url)
    with pytest.raises(StoreOwned) as refused:
        own_store(url)
    message = str(refused.value)
    assert f"{tmp_path}/z.db" in message
    assert f"pid {os.getpid()}" in message
    first.release()
    own_store(url).release()  # free again once released


@pytest.mark.parametrize("link", ["file", "directory"])
def test_a_symlink_to_an_owned_store_is_refused_too(tmp_path, link):
    """Issue 23, item 7: a second server on a symlink to the live file started."""
    real = tmp_path / "real"
    real.mkdir()
    first = own_store(f"sqlite:///{real}/z.db")
    if link == "file":
        (tmp_path / "alias.db").symlink_to(real / "z.db")
        other = tmp_path / "alias.db"
    else:
        (tmp_path / "alias").symlink_to(real, target_is_directory=True)
        other = tmp_path / "alias" / "z.db"
    with pytest.raises(StoreOwned) as refused:
        own_store(f"sqlite:///{other}")
    assert f"{other} (that is {real / 'z.db'}) is in use" in str(refused.value)
    first.release()
    own_store(f"sqlite:///{other}").release()


def test_memory_and_postgresql_stores_have_no_owner_file(tmp_path):
    own_store("sqlite://").release()
    own_store("postgresql://u@127.0.0.1/db").release()
    assert list(tmp_path.iterdir()) == []


def test_a_url_is_shown_without_its_password():
    assert (
        shown_url("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    )


def test_an_unopenable_sqlite_store_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreUnavailable) as failed:
        open_store(f"sqlite:///{blocker}/z.db")
    assert "\n" not in str(failed.value)
    assert str(blocker) in str(failed.value)


def test_a_locked_sqlite_database_is_recognised_as_busy(tmp_path):
    path = tmp_path / "z.db"
    holder = sa.create_engine(f"sqlite:///{path}")
    waiter = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    with holder.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
        conn.commit()
        conn.exec_driver_sql("BEGIN EXCLUSIVE")
        with pytest.raises(sa.exc.OperationalError) as locked, waiter.connect() as w:
            w.exec_driver_sql("INSERT INTO t VALUES (1)")
        conn.rollback()
    assert is_busy(locked.value)
    assert not is_busy(ValueError("database is locked"))
    holder.dispose()
    waiter.dispose()
