"""The report of a tiny real workflow run, opened in a real headless Chromium.

Chromium is driven through the DevTools protocol over `--remote-debugging-pipe` (JSON messages on
file descriptors 3 and 4), so no port and no websocket library are needed. Without Chromium the
tests skip, saying what to install; under DIPBATCH_REQUIRE_ALL=1 (.ci/run) they fail instead
(tests/needs.py). The screenshot is kept in test-artifacts/report.png.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from needs import missing
from PIL import Image
from test_report import DATASET, IMAGES, workflow_reports

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
TIMEOUT_S = 60


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    missing("Chromium is not installed", "install it (apt-get install chromium) to run the browser test")


def _above_nine(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class DevTools:
    """A minimal DevTools-protocol client on Chromium's debugging pipe, attached to one page."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()
        # bash moves the browser's pipe ends onto the descriptors 3 and 4 that
        # --remote-debugging-pipe uses; first above 9, so that they cannot be 3 or 4 already
        to_browser, from_browser = (_above_nine(fd) for fd in (to_browser, from_browser))
        script = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser} {to_browser}<&- {from_browser}>&-'
        self.process = subprocess.Popen(
            ["bash", "-c", script, binary, *FLAGS, f"--user-data-dir={profile}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._read], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise ConnectionError("Chromium closed the debugging pipe")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)

    def call(self, method: str, *, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.call(method, session=self.session, **params)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._message(deadline))
        return next(e for e in self.events if e.get("method") == method)

    def evaluate(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the middle of the element."""
        box = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                            "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                            "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads the page reported."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details["text"])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def close(self) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError, RuntimeError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    devtools = DevTools(chromium(), tmp_path_factory.mktemp("chromium-profile"))
    yield devtools
    devtools.close()


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):
    """The report written after the failed run (it has a failure), loaded in the browser."""
    report = workflow_reports(tmp_path_factory) / "after-failure.html"
    for domain in ("Page", "Runtime", "Log"):
        browser.page(f"{domain}.enable")
    browser.page("Emulation.setDeviceMetricsOverride", width=1400, height=1000, deviceScaleFactor=1,
                 mobile=False)
    browser.page("Page.navigate", url=report.as_uri())
    browser.wait_for("Page.loadEventFired")
    return browser


def column_keys(page: DevTools, index: int) -> list[str]:
    return page.evaluate(f"Array.from(document.querySelectorAll('#images tbody tr'))"
                         f".map(r => r.cells[{index}].dataset.sort ?? r.cells[{index}].textContent.trim())")


def test_page_loads_without_console_errors(page):
    assert page.evaluate("document.title") == f"dipbatch report: {DATASET}"
    assert page.errors() == []


def test_no_broken_images_and_nothing_from_a_network(page):
    images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
    assert len(images) >= 2 * 5  # two restored images: thumbnails, views, plots
    broken = [alt for alt, complete, width in images if not (complete and width > 0)]
    assert broken == []
    fetched = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert [url for url in fetched if not url.startswith(("data:", "file:"))] == []


def test_table_has_one_row_per_image(page):
    assert page.evaluate("document.querySelectorAll('#images tbody tr').length") == len(IMAGES)
    names = page.evaluate("Array.from(document.querySelectorAll('#images tbody tr'))"
                          ".map(r => r.cells[1].textContent.trim())")
    assert names == IMAGES
    assert page.evaluate("document.querySelectorAll('#failures tbody tr').length") == 1


def test_clicking_a_heading_sorts_by_that_column(page):
    sigma = 5  # σ before: numbers; the failed image has none and stays last both ways
    page.click(f"#images thead th:nth-child({sigma + 1})")
    ascending = column_keys(page, sigma)
    values = [float(k) for k in ascending[:-1]]
    assert ascending[-1] == "" and values == sorted(values)
    assert page.evaluate(f"document.querySelector('#images thead th:nth-child({sigma + 1})')"
                         ".getAttribute('aria-sort')") == "ascending"
    page.click(f"#images thead th:nth-child({sigma + 1})")
    descending = column_keys(page, sigma)
    assert descending[-1] == "" and descending[:-1] == ascending[:-1][::-1]
    assert ascending[0] != ascending[1]  # the test can tell the two orders apart

    page.click("#images thead th:nth-child(2)")  # image: text, in natural order
    page.click("#images thead th:nth-child(2)")
    names = page.evaluate("Array.from(document.querySelectorAll('#images tbody tr'))"
                          ".map(r => r.cells[1].textContent.trim())")
    assert names == sorted(IMAGES, reverse=True)
    page.click("#images thead th:nth-child(1)")  # back to the summary's order
    assert column_keys(page, 0) == ["1", "2", "3"]
    assert page.errors() == []


def visible(page: DevTools, selector: str, key: str = "id") -> list[str]:
    return page.evaluate(f"Array.from(document.querySelectorAll('{selector}'))"
                         f".filter(e => !e.hidden && e.offsetParent !== null).map(e => e.{key})")


def test_filters_and_pages_show_only_their_rows_and_those_rows_sections(page):
    """Thousands of rows: the table shows a page at a time and filters by status, warnings and
    stop kind; the per-image sections of hidden rows are hidden too."""
    rows = "#images tbody tr"
    every = visible(page, rows)
    assert len(every) == len(IMAGES)
    statuses = dict(zip(every, page.evaluate(f"Array.from(document.querySelectorAll('{rows}'))"
                                             ".map(r => r.dataset.status)"), strict=True))
    page.evaluate("(() => { document.getElementById('images').dataset.pageRows = '2';"
                  " document.getElementById('filters').dispatchEvent(new Event('change')); })()")
    first = visible(page, rows)
    assert first == every[:2]
    assert page.evaluate("document.getElementById('filters').shown.value") == "1–2 of 3"
    sections = [s.replace("image-", "row-") for s in visible(page, "section.detail[data-row]")]
    assert sections == [r for r in first if statuses[r] == "ok"]
    page.click("#filters button[name=next]")
    assert visible(page, rows) == every[2:]
    assert page.evaluate("document.querySelector('#filters button[name=next]').disabled")

    page.evaluate("(() => { const f = document.getElementById('filters'); f.status.value = 'failed';"
                  " f.dispatchEvent(new Event('change')); })()")
    failed = [r for r in every if statuses[r] == "failed"]
    assert visible(page, rows) == failed and len(failed) == 1
    assert visible(page, "section.detail[data-row]") == []
    assert page.evaluate("document.getElementById('filters').shown.value") == "1–1 of 1 (of 3 images)"
    page.evaluate("(() => { const f = document.getElementById('filters'); f.reset();"
                  " f.warned.checked = true; f.dispatchEvent(new Event('change')); })()")
    warned = page.evaluate(f"Array.from(document.querySelectorAll('{rows}'))"
                           ".filter(r => r.dataset.warned === '1').map(r => r.id)")
    assert visible(page, rows) == warned[:2] and warned  # the 6-iteration fits ran to the cap

    page.evaluate("(() => { const f = document.getElementById('filters'); f.reset();"
                  " document.getElementById('images').dataset.pageRows = '100';"
                  " f.dispatchEvent(new Event('change')); })()")
    assert visible(page, rows) == every
    assert page.errors() == []


def test_screenshot_is_kept(page):
    size = page.page("Page.getLayoutMetrics")["cssContentSize"]
    width, height = round(size["width"]), min(round(size["height"]), 6000)
    shot = page.page("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                     clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "report.png"
    target.write_bytes(base64.b64decode(shot["data"]))
    with Image.open(target) as picture:
        assert picture.size == (width, height)
        assert np.unique(np.asarray(picture.convert("L"))).size > 50  # a rendered page, not a blank one
