"""The fault-injection suite at its reduced size: every scenario on real Tansu, PostgreSQL and worker processes.

`make faults` runs the same scenarios at full size and writes docs/reliability.md's table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from finsent.bench.faults.report import Result, format_table
from finsent.bench.faults.runner import SCENARIOS, run_scenarios
from tests.utils.database import ADMIN_URL

pytestmark = pytest.mark.slow


# Checks the suite reports but CI does not fail on, and why. Restart to first score measured 8.5-9.8 s
# against its 10 s bound on the 2 shared cores (docs/reliability.md): a loaded CI machine can miss it
# by a second, so it is reported in the table, not gated here.
NOT_GATING = {"restart to first score within 10 s"}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_at_reduced_size(name: str, tiny_model_path: Path, tmp_path: Path) -> None:
    [result] = run_scenarios([name], size="reduced", model_path=str(tiny_model_path), pg_admin_url=ADMIN_URL, work_dir=tmp_path, keep=True)
    assert isinstance(result, Result) and result.checks
    gating = [check for check in result.failed_checks if check not in NOT_GATING]
    assert not gating, f"{gating}\n{format_table([result])}\n{result.details}"


def test_the_proxy_cuts_and_restores_a_real_database_connection() -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from finsent.bench.faults.proxy import TcpProxy

    url = make_url(ADMIN_URL)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    engine = create_engine(url.set(host="127.0.0.1", port=proxy.port), pool_pre_ping=False)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
            proxy.cut()  # the open connection is reset, and new ones are refused
            with pytest.raises(OperationalError):
                conn.execute(text("SELECT 1"))
        with pytest.raises(OperationalError):
            engine.connect()
        proxy.restore()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
        proxy.stop()


def test_the_document_keeps_other_scenarios_rows(tmp_path: Path) -> None:
    from finsent.bench.faults.report import BEGIN, END, write_doc

    doc = tmp_path / "reliability.md"
    doc.write_text(f"# Reliability\n\nintro\n\n{BEGIN}\nold\n{END}\n\n## after\n")
    first, second = Result("crash loop", messages=10), Result("hostile input", messages=5)
    first.check("ok", True)
    second.check("broken", False)
    write_doc(doc, [first], size="full")
    write_doc(doc, [second], size="reduced")
    text = doc.read_text()
    assert text.startswith("# Reliability\n\nintro") and text.rstrip().endswith("## after") and "old" not in text
    assert "| full |" in text and "| crash loop | 10 |" in text and "FAIL: broken" in text
