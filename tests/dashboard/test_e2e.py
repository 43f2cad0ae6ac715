"""The real dashboard: ``finsent dashboard`` on a free loopback port, fetched over HTTP, driven in Chromium.

The database is the seeded SQLite history ending now, with the shipped alert rules fired on
its spike. The server runs with a token, so the browser logs in first; screenshots of every
page are left in ``artifacts/``. The browser part needs Debian's ``chromium`` and
``chromium-driver`` (CI installs them); the HTTP part runs regardless.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from finsent.db import make_engine, make_sessionmaker, session_scope
from finsent.messages import ScoredMessage, utcnow
from finsent.store import write_scored
from finsent.stream.broker import free_port
from tests.utils.dashboard_seed import MAIN_VERSION, SPIKE_TICKER, SPIKE_TOPIC, seeded_database

pytestmark = pytest.mark.slow

TOKEN = "e2e-token-5f1c9a7d"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()
REFRESH_S = 2


@dataclass
class Server:
    url: str
    db_url: str
    log: Path
    process: subprocess.Popen[bytes]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
        return response.status, response.read().decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``finsent dashboard`` as a separate process, until the module is done."""
    folder = tmp_path_factory.mktemp("e2e")
    db_url = f"sqlite:///{folder / 'finsent.db'}"
    seeded_database(db_url, utcnow())
    port = free_port()
    log = folder / "dashboard.log"
    env = {
        **os.environ,
        "FINSENT_DATABASE_URL": db_url,
        "FINSENT_DASHBOARD_TOKEN": TOKEN,
        "FINSENT_DASHBOARD_REFRESH_S": str(REFRESH_S),
        "FINSENT_LOG_LEVEL": "INFO",
    }
    finsent = str(Path(sys.executable).parent / "finsent")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [finsent, "dashboard", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if _get(f"{base}/_stcore/health") == (200, "ok"):
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"dashboard did not come up (exit {process.poll()}):\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    yield Server(url=base, db_url=db_url, log=log, process=process)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_dashboard_answers_on_its_port(server: Server) -> None:
    status, body = _get(server.url + "/")
    assert status == 200 and '<div id="root">' in body
    assert _get(server.url + "/_stcore/health") == (200, "ok")
    assert server.url.startswith("http://127.0.0.1:")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not HAVE_BROWSER:
        pytest.skip(
            f"Chromium not installed ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium chromium-driver"
        )
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1600,1300", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _waiter(driver, timeout: float = 60):  # type: ignore[no-untyped-def]
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        driver, timeout, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,)
    )


def _metric(driver, label: str) -> str | None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    for metric in driver.find_elements(By.CSS_SELECTOR, "[data-testid=stMetric]"):
        if metric.find_element(By.CSS_SELECTOR, "[data-testid=stMetricLabel]").text.strip() == label:
            return metric.find_element(By.CSS_SELECTOR, "[data-testid=stMetricValue]").text.strip()
    return None


def _settled(driver) -> bool:  # type: ignore[no-untyped-def]
    """No script run in progress (Streamlit shows a status widget while running)."""
    from selenium.webdriver.common.by import By

    return not driver.find_elements(By.CSS_SELECTOR, "[data-testid=stStatusWidget]")


def _open_page(driver, name: str, heading: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    link = _waiter(driver).until(
        lambda d: d.find_element(By.CSS_SELECTOR, f"a[data-testid=stSidebarNavLink][href$='/{name}']")
    )
    link.click()
    _waiter(driver).until(
        lambda d: any(h.text.strip() == heading for h in d.find_elements(By.TAG_NAME, "h1"))
    )


def _no_exceptions(driver) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    shown = driver.find_elements(By.CSS_SELECTOR, "[data-testid=stException]")
    assert not shown, [e.text[:500] for e in shown]


def _grid_rows(driver, index: int = 0) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """The cells of a dataframe, read from the grid's accessible table (the grid itself is a canvas)."""
    from selenium.webdriver.common.by import By

    frames = driver.find_elements(By.CSS_SELECTOR, "[data-testid=stDataFrame]")
    if len(frames) <= index:
        return []
    rows = frames[index].find_elements(By.CSS_SELECTOR, "tbody tr")
    return [
        [c.get_attribute("textContent").strip() for c in r.find_elements(By.CSS_SELECTOR, "td")] for r in rows
    ]


def _shot(driver, artifacts_dir: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    """A screenshot of the whole page (the window grown to the content's height for it)."""
    _waiter(driver, 30).until(_settled)
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=stMain]'); return m ? m.scrollHeight : 0;"
    )
    driver.set_window_size(1600, max(1300, min(int(height or 0) + 120, 6000)))
    time.sleep(1.0)  # charts re-lay out and animate in
    path = artifacts_dir / f"dashboard-{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1600, 1300)
    assert path.stat().st_size > 5_000  # not a blank page
    return path


def _scored_now(i: int) -> ScoredMessage:
    at = utcnow() - timedelta(seconds=5)
    return ScoredMessage(
        id=f"live-{i}",
        source="reuters-wire",
        title=f"Live headline {i}",
        url=f"https://news.example.com/live/{i}",
        published_at=at,
        tickers=["MSFT"],
        model_version=MAIN_VERSION,
        sentiment="neutral",
        sentiment_score=0.8,
        topic="Macro",
        topic_score=0.7,
        scored_at=at,
    )


def test_pages_render_with_data_in_chromium(server: Server, browser: Any, artifacts_dir: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    wait = _waiter(driver)
    try:
        # The gate: a password field and nothing else, until the right token is given.
        driver.get(server.url)
        field = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "input[type=password]"))
        assert not driver.find_elements(By.CSS_SELECTOR, "[data-testid=stMetric]")
        _shot(driver, artifacts_dir, "0-login")
        field.send_keys("not-the-token")
        driver.find_element(By.XPATH, "//button[.//p[text()='Open dashboard']]").click()
        wait.until(lambda d: "not right" in d.find_element(By.TAG_NAME, "body").text)
        assert not driver.find_elements(By.CSS_SELECTOR, "[data-testid=stMetric]")
        driver.refresh()  # a fresh form (clearing a React-controlled field from outside is unreliable)
        field = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "input[type=password]"))
        field.send_keys(TOKEN)
        driver.find_element(By.XPATH, "//button[.//p[text()='Open dashboard']]").click()

        # Overview: figures, three charts, the alerts that fired on the spike.
        wait.until(lambda d: _metric(d, "Firing alerts") == "3")
        wait.until(
            lambda d: (
                len(
                    d.find_elements(
                        By.CSS_SELECTOR,
                        "[data-testid=stVegaLiteChart] canvas, [data-testid=stVegaLiteChart] svg",
                    )
                )
                >= 3
            )
        )
        documents = int((_metric(driver, "Documents, last hour") or "0").replace(",", ""))
        assert documents > 100
        assert (_metric(driver, "Negative rate, last hour") or "").endswith("%")
        _no_exceptions(driver)
        _shot(driver, artifacts_dir, "1-overview")

        # Auto-refresh: documents scored now show up without anyone touching the page.
        engine = make_engine(server.db_url)
        with session_scope(make_sessionmaker(engine)) as session:
            write_scored(session, [_scored_now(i) for i in range(40)])
        engine.dispose()
        # The "last hour" window slides while the test runs, so older seeded documents may leave it;
        # a larger count than before can only come from the new ones arriving by auto-refresh.
        _waiter(driver, 90).until(
            lambda d: int((_metric(d, "Documents, last hour") or "0").replace(",", "")) > documents
        )

        # Topics and tickers: the spike tops the movers; its detail and headlines below.
        _open_page(driver, "topics", "Topics and tickers")
        wait.until(lambda d: SPIKE_TOPIC in (_grid_rows(d) or [[]])[0])
        wait.until(lambda d: _metric(d, "Negative rate in window") not in (None, "–"))
        wait.until(lambda d: any(SPIKE_TOPIC in " ".join(r) for r in _grid_rows(d, 1)))
        _no_exceptions(driver)
        _shot(driver, artifacts_dir, "2-topics")

        # Headlines: newest first, the live ones at the top, links to the originals.
        _open_page(driver, "headlines", "Headlines")
        wait.until(lambda d: any("Live headline" in " ".join(r) for r in _grid_rows(d)[:5]))
        rows = _grid_rows(driver)
        assert len(rows) >= 10 and any("https://news.example.com/" in " ".join(r) for r in rows)
        _no_exceptions(driver)
        _shot(driver, artifacts_dir, "3-headlines")

        # Alerts: three firing, the ticker one about the spike.
        _open_page(driver, "alerts", "Alerts")
        wait.until(lambda d: _metric(d, "Firing") == "3")
        wait.until(lambda d: any(f"ticker: {SPIKE_TICKER}" in " ".join(r) for r in _grid_rows(d)))
        _no_exceptions(driver)
        _shot(driver, artifacts_dir, "4-alerts")

        # Model: both versions with their counts.
        _open_page(driver, "model", "Model")
        wait.until(lambda d: any(MAIN_VERSION in " ".join(r) for r in _grid_rows(d)))
        _no_exceptions(driver)
        _shot(driver, artifacts_dir, "5-model")
    except Exception:
        driver.save_screenshot(str(artifacts_dir / "dashboard-failure.png"))
        print(server.log.read_text()[-4000:])
        raise


WIRE = "Globex shares plunge 9% after quarterly loss widens on weak demand"
WIRE_COPIES = [
    ("reuters-wire", WIRE),
    ("pti-feed", "Globex stock plunges 9% after quarterly loss widens on weak demand (PTI)"),
    ("moneycontrol", "UPDATE 1-Globex shares plunge 9 per cent after quarterly loss widens on weak demand"),
]
NEGATIVE = "Initech stock plunges after surprise loss"


def _desk_documents() -> list[ScoredMessage]:
    """A wire story in three outlets' words, and a plainly negative headline to explain and correct."""
    at = utcnow() - timedelta(seconds=2)
    items = [
        ScoredMessage(
            id=f"wire-{i}", source=source, title=title, url=f"https://news.example.com/wire/{i}",
            published_at=at - timedelta(seconds=30 - i), tickers=["GLBX"], model_version=MAIN_VERSION,
            sentiment="negative", sentiment_score=0.9, topic="Earnings", topic_score=0.8, scored_at=at,
        )
        for i, (source, title) in enumerate(WIRE_COPIES)
    ]  # fmt: skip
    items.append(
        ScoredMessage(
            id="initech-1", source="reuters-wire", title=NEGATIVE, url="https://news.example.com/initech",
            published_at=at, tickers=["INTC", "GLBX"], model_version=MAIN_VERSION, sentiment="negative",
            sentiment_score=0.93, topic="Earnings", topic_score=0.8, scored_at=at,
        )
    )  # fmt: skip
    return items


def _choose(driver, label: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """Pick the option containing ``text`` in the selectbox labelled ``label``."""
    from selenium.webdriver.common.by import By

    def box(d):  # type: ignore[no-untyped-def]
        for e in d.find_elements(By.CSS_SELECTOR, "[data-testid=stSelectbox]"):
            labels = e.find_elements(By.CSS_SELECTOR, "label")
            if labels and labels[0].text.strip() == label:
                return e
        return None

    found = _waiter(driver).until(box)
    field = (found.find_elements(By.CSS_SELECTOR, "[role=combobox]") or found.find_elements(By.CSS_SELECTOR, "input") or [found])[0]
    # In the middle of the window: a list opened at its bottom edge has options a click cannot reach.
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
    field.click()
    option = _waiter(driver, 10).until(
        lambda d: next((o for o in d.find_elements(By.CSS_SELECTOR, "[role=option]") if text in o.text), None)
    )
    try:
        option.click()
    except Exception:  # noqa: BLE001 - another layer covers it: the option's own click handler still picks it
        driver.execute_script("arguments[0].click()", option)
    # Picked: the list closes (the chosen value sits in an input, not in the box's text).
    _waiter(driver, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[role=option]"))
    time.sleep(0.5)
    _waiter(driver, 30).until(_settled)


def test_stories_explanations_and_corrections_in_chromium(server: Server, browser: Any, artifacts_dir: Path) -> None:
    """After the page tour (same browser, logged in): the desk's pages, driven like an analyst would."""
    from selenium.webdriver.common.by import By

    from finsent.stories import StoryOptions

    driver = browser
    wait = _waiter(driver, 90)
    engine = make_engine(server.db_url)
    with session_scope(make_sessionmaker(engine)) as session:
        write_scored(session, _desk_documents(), stories=StoryOptions())
    engine.dispose()
    try:
        # Stories: the wire story once, with its three copies and their outlets.
        _open_page(driver, "stories", "Stories")
        wait.until(lambda d: any(WIRE in " ".join(r) for r in _grid_rows(d)))
        row = next(r for r in _grid_rows(driver) if WIRE in " ".join(r))
        assert "3" in row and all(s in " ".join(row) for s, _ in WIRE_COPIES)
        wait.until(lambda d: all(s in " ".join(" ".join(r) for r in _grid_rows(d, 1)) for s, _ in WIRE_COPIES))
        _no_exceptions(driver)
        _shot(driver, artifacts_dir, "6-stories")

        # Headlines: pick the negative one, ask why, and read the highlighted words.
        _open_page(driver, "headlines", "Headlines")
        # A search (a read of its own: the page's unfiltered read of this minute may predate the document).
        from selenium.webdriver.common.keys import Keys

        search = driver.find_element(By.CSS_SELECTOR, "input[aria-label='Search headlines']")
        search.send_keys("Initech" + Keys.ENTER)
        wait.until(lambda d: any(NEGATIVE in " ".join(r) for r in _grid_rows(d)[:5]))
        _choose(driver, "Headline", NEGATIVE)
        wait.until(lambda d: d.find_elements(By.XPATH, "//button[.//p[text()='Why this label?']]"))
        driver.find_element(By.XPATH, "//button[.//p[text()='Why this label?']]").click()
        spans = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".finsent-explanation .finsent-attr"))
        scores = {s.text: float(s.get_attribute("data-score")) for s in spans}
        top = sorted(scores, key=scores.get, reverse=True)[:3]
        assert {"plunges", "loss"} & set(top), scores
        # Correct one ticker's sentiment, with a reason; it shows beside the model's label.
        _choose(driver, "Correct", "ticker GLBX")
        # The choice reruns the page and replaces the label box with one for a ticker: wait for it.
        time.sleep(1.0)
        _waiter(driver, 30).until(_settled)
        _choose(driver, "Right label", "neutral")
        driver.find_element(By.CSS_SELECTOR, "input[aria-label='Your name']").send_keys("asha")
        driver.find_element(By.CSS_SELECTOR, "input[aria-label='Reason']").send_keys("Globex is only mentioned")
        driver.find_element(By.XPATH, "//button[.//p[text()='Save correction']]").click()
        wait.until(lambda d: "Analyst: neutral for ticker GLBX" in d.find_element(By.TAG_NAME, "body").text)
        # The explanation was asked for this document: it stays on screen for the picture.
        _no_exceptions(driver)
        _shot(driver, artifacts_dir, "7-why-and-correct")

        # Model: the disagreement rate of the version the analyst corrected.
        _open_page(driver, "model", "Model")
        def feedback_row(d):  # type: ignore[no-untyped-def]
            frames = len(d.find_elements(By.CSS_SELECTOR, "[data-testid=stDataFrame]"))
            rows = [[c for c in r if c] for i in range(frames) for r in _grid_rows(d, i)]
            # version, labels reviewed, changed by the analyst, disagreement rate
            return next((r for r in rows if r and r[0] == MAIN_VERSION and len(r) == 4), None)

        row = wait.until(feedback_row)
        # The grid's accessible table holds the raw value (1.0); the cell shows it as 100%.
        assert row[1:3] == ["1", "1"] and row[3] in ("1", "100%"), row
        _no_exceptions(driver)
        _shot(driver, artifacts_dir, "8-model-feedback")
    except Exception:
        driver.save_screenshot(str(artifacts_dir / "dashboard-desk-failure.png"))
        print(server.log.read_text()[-4000:])
        raise
