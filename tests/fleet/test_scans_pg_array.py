"""fleet.services.scans._pg_array: the array literals the PostgreSQL ingest
sends must read back as exactly the values, whatever the text holds."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from fleet.core.config import normalise_db_url
from fleet.core.db import make_engine
from fleet.services.scans import _pg_array

PG_URL = os.environ.get("GREENGATE_TEST_PG_URL")


def test_literal_shape():
    assert _pg_array([1, None, True, False, "a"]) == '{1,NULL,t,f,"a"}'
    assert _pg_array([]) == "{}"


@pytest.mark.skipif(not PG_URL, reason="GREENGATE_TEST_PG_URL is not set")
def test_round_trip_through_postgresql():
    engine = make_engine(normalise_db_url(PG_URL))
    texts = ["gg-0123456789ab", "a,b", "{x}", '"q"', "back\\slash", "NULL", " sp ", "Tiếng Việt", None, ""]
    ints = [0, 1, -5, (1 << 63) - 1, None]
    bools = [True, False, None]
    try:
        with engine.connect() as c:
            assert c.scalar(text("SELECT CAST(:v AS varchar[])"), {"v": _pg_array(texts)}) == texts
            assert c.scalar(text("SELECT CAST(:v AS bigint[])"), {"v": _pg_array(ints)}) == ints
            assert c.scalar(text("SELECT CAST(:v AS boolean[])"), {"v": _pg_array(bools)}) == bools
    finally:
        engine.dispose()
