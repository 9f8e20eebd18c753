"""A real headless Chromium (Debian's chromium + chromium-driver, which `make setup` installs as
root) driven by Selenium, with every network request sent to a dead proxy: a page that needs the
network shows it as an image that did not decode or a request in its resource list. Only
127.0.0.1 answers, for a server the test starts there (Chromium never proxies loopback, and the
resolver rule leaves it out)."""

import contextlib
import shutil
from pathlib import Path

import pytest

RENDERED = """
return {
  images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth})),
  rows: [...document.querySelectorAll('table.experiments tr.experiment')].map(tr => tr.cells[0].textContent),
  names: [...document.querySelectorAll('table.experiments tr.experiment .name')]
    .map(span => span.textContent),
  headers: [...document.querySelectorAll('table.experiments th')].map(th => th.textContent),
  requests: performance.getEntriesByType('resource').map(r => r.name).filter(n => !n.startsWith('data:')),
};
"""


@contextlib.contextmanager
def chromium():
    """A Selenium driver of a new Chromium: a fresh profile each time (empty local storage, as a
    user's first visit), the network cut off."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver_path):
        pytest.fail(
            "chromium and chromedriver not found: `make setup` installs them as root on Debian "
            "(apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--proxy-server=http://127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def rendered(page: Path) -> dict:
    """What Chromium shows of `page` once loaded: each image's natural width; the rows of every experiments
    table (one per ruler), by the text of their first cell; every experiment name in them; their headers."""
    with chromium() as driver:
        driver.get(page.resolve().as_uri())  # returns after the load event: every image fetched and decoded
        return driver.execute_script(RENDERED)
