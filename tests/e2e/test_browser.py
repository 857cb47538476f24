"""A real headless Chromium chats on the page the server serves at GET `/`.

Needs the Debian packages `chromium` and `chromium-driver` and selenium from PyPI;
without them the test skips locally and fails in CI (CI=true).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ingress.wsclient import embedded_server
from tests.services import in_ci

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "apt-get install -y chromium chromium-driver; pip install selenium"
#: Seconds the page may take for anything it should show.
WAIT = 20
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1024,768",
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def require_browser() -> None:
    """Skip locally, fail in CI, unless Chromium, chromedriver and selenium exist."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if importlib.util.find_spec("selenium") is None:
        missing.append("the selenium package")
    if not missing:
        return
    message = f"{', '.join(missing)} not installed ({INSTALL})"
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """A headless Chromium with a fresh profile, quit afterwards."""
    require_browser()
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    service = webdriver.ChromeService(
        executable_path=str(CHROMEDRIVER),
        log_output=str(tmp_path / "chromedriver.log"),
    )
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def bot_lines(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [p.text for p in driver.find_elements(By.CSS_SELECTOR, "#log p.bot")]


def wait_for(driver, check, what: str) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, WAIT, poll_frequency=0.1).until(check)
    except TimeoutException:
        pytest.fail(f"{what} within {WAIT} s; the page shows {bot_lines(driver)}")


def type_line(driver, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.find_element(By.ID, "text").send_keys(text + Keys.ENTER)


def connected(driver) -> bool:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "status").text == "connected"


def test_a_browser_is_greeted_and_plays(browser, tmp_path):
    with embedded_server(tmp_path) as server:
        browser.get(f"http://{server.host}/")
        assert browser.title == "zoozl chat"
        greeting = [
            "zoozl: Hello!",
            "zoozl: I can do few things. Ask me for example to play games or "
            "something.",
        ]
        wait_for(browser, lambda d: bot_lines(d) == greeting, "no greeting")
        wait_for(browser, connected, "not connected")
        cookie = browser.get_cookie("zoozl_talker")
        assert cookie is not None
        assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
            True,
            "Lax",
            "/",
        )

        type_line(browser, "play games")
        ask = "zoozl: what game you want to play? bulls and cows?"
        wait_for(browser, lambda d: bot_lines(d) == [*greeting, ask], "no answer")

        screenshot = tmp_path / "chat.png"
        assert browser.save_screenshot(str(screenshot))
        assert screenshot.read_bytes().startswith(PNG_SIGNATURE)

        # A reload keeps the cookie: no greeting, the game goes on.
        browser.refresh()
        wait_for(browser, connected, "not connected after reload")
        type_line(browser, "yes")
        start = ["zoozl: OK. Let's play bulls and cows", "zoozl: Guess 4 digit number"]
        wait_for(browser, lambda d: bot_lines(d) == start, "the game did not go on")
        assert browser.get_cookie("zoozl_talker")["value"] == cookie["value"]
