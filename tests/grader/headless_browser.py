"""Headless Chromium for the tests of what a person sees in a browser: nbgrader's formgrader,
the feedback pages and the class report: what a person sees in a browser is tested in a real one.

Chromium and its driver come from Debian's packages (`apt-get install -y chromium
chromium-driver`; `.ci/run` installs them when they are missing), Selenium from PyPI (the `dev`
extra). Both paths are handed to Selenium, so Selenium Manager never runs and nothing is
downloaded at run time. Where the packages are absent the tests are skipped with that command.

Screenshots go to a folder the test prints: pytest's tmp path, or `$VAELAB_BROWSER_ARTIFACTS`
(kept after the run, e.g. as CI artifacts).
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("VAELAB_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("VAELAB_CHROMEDRIVER", "/usr/bin/chromedriver"))
INSTALL = "apt-get install -y chromium chromium-driver"
ARTIFACTS_ENV = "VAELAB_BROWSER_ARTIFACTS"
WIDTH, HEIGHT = 1280, 800   # the screen the pages must read well on (issue 17)
MIN_FONT_PX = 12            # body text smaller than this is not readable at that size

#: Remote scripts a page may fail to load and still read well. nbgrader's feedback template
#: loads MathJax from cdnjs (its `mathjax()` macro, no setting to change it): offline the formulas
#: show as the TeX their authors typed; online they are typeset. Anything else must load.
OPTIONAL_REMOTE = ("https://cdnjs.cloudflare.com/ajax/libs/mathjax/",)


def require_chromium() -> None:
    """Skip (with the command that installs them) when Debian's chromium or its driver is absent."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not (path.is_file() and os.access(path, os.X_OK))]
    if missing:
        pytest.skip(f"no headless browser here ({', '.join(missing)} missing): `{INSTALL}` "
                    "(as root; .ci/run does it in CI)")


def artifacts_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """Where a test keeps its screenshots: $VAELAB_BROWSER_ARTIFACTS/<name> when set, else a pytest
    tmp folder; printed, so that a failing run says where to look."""
    root = os.environ.get(ARTIFACTS_ENV)
    folder = Path(root) / name if root else tmp_path_factory.mktemp(f"{name}_screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of {name}: {folder}")
    return folder


@dataclass
class Browser:
    """A headless Chromium at WIDTH x HEIGHT, and the folder of its screenshots."""

    driver: object  # selenium.webdriver.Chrome
    artifacts: Path

    def open(self, url: str) -> None:
        self.driver.get_log("browser")  # forget the messages of the page before
        self.driver.get(url)
        self.driver.execute_script("return document.fonts ? document.fonts.ready : null")

    def screenshot(self, name: str) -> Path:
        """The whole page (not only the window), as artifacts/<name>.png."""
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": max(size["width"], WIDTH), "height": max(size["height"], HEIGHT), "scale": 1}
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot",
                                           {"format": "png", "captureBeyondViewport": True, "clip": clip})
        path = self.artifacts / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def screenshot_of(self, element_id: str, name: str) -> Path:
        """The window with the element of id `element_id` in its middle, as artifacts/<name>.png."""
        self.driver.execute_script("document.getElementById(arguments[0]).scrollIntoView({block: 'center'})",
                                   element_id)
        path = self.artifacts / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def failed_loads(self) -> list[str]:
        """Resources of the page that did not load (Chromium's console), but for OPTIONAL_REMOTE."""
        failed = [entry["message"] for entry in self.driver.get_log("browser")
                  if entry["level"] == "SEVERE" and ("Failed to load resource" in entry["message"]
                                                     or "net::ERR_" in entry["message"])]
        return [message for message in failed if not any(url in message for url in OPTIONAL_REMOTE)]

    def reading_problems(self) -> list[str]:
        """What keeps the page open now from reading well at WIDTH x HEIGHT: broken images,
        stylesheets that did not load, a page wider than the window, text too small, failed loads."""
        found = self.driver.execute_script("""
            const problems = [];
            for (const img of document.images) {
                if (!img.complete || img.naturalWidth === 0)
                    problems.push(`broken image ${img.getAttribute('src').slice(0, 80)}`);
                else if (img.getBoundingClientRect().right > window.innerWidth + 1)
                    problems.push(`image ${img.getAttribute('src').slice(0, 80)} runs past the window`);
            }
            for (const link of document.querySelectorAll('link[rel=stylesheet]'))
                if (!link.sheet) problems.push(`stylesheet ${link.href} not loaded`);
            const width = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
            if (width > window.innerWidth)
                problems.push(`page is ${width} px wide in a ${window.innerWidth} px window (horizontal scrolling)`);
            const font = parseFloat(getComputedStyle(document.body).fontSize);
            if (font < arguments[0]) problems.push(`body text is ${font} px`);
            if (!document.body.innerText.trim()) problems.push('the page shows no text');
            return problems;
        """, MIN_FONT_PX)
        return found + [f"failed load: {message}" for message in self.failed_loads()]


@contextmanager
def chromium(artifacts: Path) -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by its chromedriver (both paths given: no download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", f"--window-size={WIDTH},{HEIGHT}", "--no-sandbox",  # root in CI
                     "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--disable-extensions",
                     "--hide-scrollbars", "--force-device-scale-factor=1", "--lang=en-US"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    profile = artifacts / ".chromium-profile"
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        # The viewport itself at WIDTH x HEIGHT (a window of that size has a smaller viewport).
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
        driver.set_page_load_timeout(60)
        yield Browser(driver, artifacts)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
