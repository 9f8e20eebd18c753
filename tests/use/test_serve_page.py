"""The page `fashiongan serve` answers at /, in a real headless Chromium with the network cut off
(tests/browser.py): a conditional (untrained) generator's grid and interpolation strip, drawn by the
same POST /invocations that programs use, and the server's one-line refusals shown as they are."""

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request

import pytest
from browser import chromium
from pipeline_repo import BIN, env_for, free_port, wait_until_up
from selenium.webdriver.support.ui import WebDriverWait

from fashiongan.config import ModelConfig
from fashiongan.data.sources import CLASS_NAMES
from fashiongan.gan.models import build_generator
from fashiongan.io import save_model
from fashiongan.tracking.model import save_generator_model

pytestmark = pytest.mark.slow  # starts a server and a browser

MAX_ROWS, COUNT, FRAMES = 64, 16, 10  # the server's --max-rows; the page's default count and its strip
FIRST = {"class": "0", "seed": 0, "psi": 1}  # the page's controls as it opens

# Each image the CSS selector arguments[0] matches: whether it decoded to a 28-pixel-wide image (decode()
# settles once the image is fetched and decoded or has failed to), and its src.
IMAGES = """
const [selector, done] = [arguments[0], arguments[arguments.length - 1]];
const images = [...document.querySelectorAll(selector)];
Promise.allSettled(images.map(image => image.decode())).then(results => done(results.map((result, i) => ({
  decoded: result.status === "fulfilled" && images[i].complete && images[i].naturalWidth === 28,
  src: images[i].src,
}))));
"""
# The page's controls set as a user's edit leaves them: the value, then a change event.
CHANGE = """
const control = document.getElementById(arguments[0]);
control.value = arguments[1];
control.dispatchEvent(new Event("change", {bubbles: true}));
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`fashiongan serve` on a tiny conditional generator saved with the Fashion-MNIST class names."""
    directory = tmp_path_factory.mktemp("serve_page")
    keras_path = directory / "generator.keras"
    config = ModelConfig(arch="mlp", latent_dim=8, conditional=True, spectral_norm=False, clusters=0)
    save_model(build_generator(config), keras_path)
    save_generator_model(keras_path, directory / "model", list(CLASS_NAMES))
    port, log = free_port(), directory / "serve.log"
    url = f"http://127.0.0.1:{port}"
    command = ["serve", "--model", directory / "model", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [BIN / "fashiongan", *command, "--max-rows", str(MAX_ROWS)],
        cwd=directory,
        env=env_for(directory),
        stdout=open(log, "w"),  # noqa: SIM115 (open while the server lives)
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_up(f"{url}/ping", process, log)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


@pytest.fixture
def page(server, browser):
    """The page freshly opened, its first images shown."""
    browser.get(f"{server}/")
    assert settled(browser) == "ready", error_line(browser)
    return browser


def state(driver) -> str:
    return driver.execute_script("return document.body.dataset.state")


def settled(driver) -> str:
    """The page's state once its requests have finished: "ready" or "error"."""
    WebDriverWait(driver, 30).until(lambda d: state(d) in ("ready", "error"))
    return state(driver)


def change(driver, control: str, value: str) -> str:
    driver.execute_script(CHANGE, control, value)
    return settled(driver)


def images(driver, selector: str) -> list[dict]:
    return driver.execute_async_script(IMAGES, selector)


def error_line(driver) -> str:
    return driver.execute_script("return document.getElementById('error').textContent")


def invocations(url: str, **params) -> tuple[int, dict]:
    """The server's status and JSON answer to the body the page sends for `params`."""
    body = json.dumps({"inputs": {}, "params": {**params, "format": "png"}}).encode()
    request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def pngs(url: str, **params) -> list[str]:
    status, answer = invocations(url, **params)
    assert status == 200, answer
    return [f"data:image/png;base64,{png}" for png in answer["predictions"]]


def test_the_page_shows_the_servers_images_asking_nothing_but_the_server(server, page):
    grid, strip = images(page, "#grid img"), images(page, "#strip img")
    assert [image["decoded"] for image in grid] == [True] * COUNT
    assert [image["decoded"] for image in strip] == [True] * FRAMES
    assert [image["src"] for image in grid] == pngs(server, **FIRST, n=COUNT)
    assert [image["src"] for image in strip] == pngs(server, **FIRST, n=FRAMES, seed_to=1)
    requests = page.execute_script(
        "return performance.getEntriesByType('resource').map(r => r.name).filter(n => !n.startsWith('data:'))"
    )
    assert f"{server}/invocations" in requests
    assert all(name.startswith(f"{server}/") for name in requests), requests
    assert error_line(page) == ""


def test_another_class_draws_other_images(server, page):
    before = [image["src"] for image in images(page, "#grid img")]
    assert change(page, "class", "7") == "ready"
    after = [image["src"] for image in images(page, "#grid img")]
    assert after != before and after == pngs(server, **FIRST | {"class": "7"}, n=COUNT)


def test_a_refused_value_shows_the_servers_line_and_keeps_the_images(server, page):
    before = images(page, "#grid img")
    status, answer = invocations(server, **FIRST | {"psi": 1.5}, n=COUNT)
    assert status == 400 and "\n" not in answer["message"], answer
    assert change(page, "psi", "1.5") == "error"
    assert error_line(page) == answer["message"]
    assert images(page, "#grid img") == before
    assert change(page, "psi", "0.7") == "ready" and error_line(page) == ""  # the next answer clears it


def test_an_image_that_does_not_decode_is_caught(page):
    page.execute_script(
        "const broken = new Image(); broken.src = 'data:image/png;base64,AAAA';"
        "document.getElementById('grid').append(broken);"
    )
    assert [image["decoded"] for image in images(page, "#grid img")] == [True] * COUNT + [False]
