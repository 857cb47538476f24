"""A real headless Chromium chats on the page the server serves at GET `/`.

Needs the Debian packages `chromium` and `chromium-driver` and selenium from PyPI;
without them the test skips locally and fails in CI (CI=true).
"""

from __future__ import annotations

import datetime
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from testbed.procs import wait_until
from testbed.services import in_ci
from tests.ingress.wsserver import serving
from zoozl.plugins import bullgame, greeter

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


#: 64 bytes, so PyJWT does not warn.
SECRET = "zoozl-browser-secret-" * 3 + "0"
EMAIL = "ann@example.com"
GREETING = [f"zoozl: {text}" for text in greeter.NEW]
AGAIN = f"zoozl: {greeter.AGAIN}"
ASK = f"zoozl: {bullgame.ASK}"
STARTED = [f"zoozl: {text}" for text in bullgame.START]


def bot_lines(driver) -> list[str]:
    """The bot's lines on the page (read in one script: the log may be redrawn)."""
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('#log p.bot'),"
            " p => p.textContent);"
        )
    )


def my_lines(driver) -> list[tuple[str, str]]:
    """(text, state) of the talker's own messages on the page (a lone surrogate,
    which the driver cannot carry, read as U+FFFD)."""
    found = driver.execute_script(
        "return Array.from(document.querySelectorAll('#log p.me'), p =>"
        " [p.querySelector('.text').textContent.toWellFormed(),"
        " p.querySelector('.state').textContent]);"
    )
    return [(text, state) for text, state in found]


def status(driver) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, "status").text)


def wait_for(driver, check, what: str) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, WAIT, poll_frequency=0.1).until(check)
    except TimeoutException:
        pytest.fail(
            f"{what} within {WAIT} s; the page shows {my_lines(driver)}, "
            f"{bot_lines(driver)}, status {status(driver)!r}"
        )


def type_line(driver, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.find_element(By.ID, "text").send_keys(text + Keys.ENTER)


def connected(driver) -> bool:
    return status(driver) == "connected"


def shows(driver, mine: list[tuple[str, str]], bot: list[str], what: str) -> None:
    """Wait until the page shows exactly these messages and replies."""
    wait_for(driver, lambda d: (my_lines(d), bot_lines(d)) == (mine, bot), what)


def test_a_browser_is_greeted_plays_and_a_reload_keeps_the_game(browser, tmp_path):
    with serving(tmp_path) as server:
        browser.get(f"http://{server.host}/")
        assert browser.title == "zoozl chat"
        shows(browser, [], GREETING, "no greeting")
        wait_for(browser, connected, "not connected")
        cookie = browser.get_cookie("zoozl_talker")
        assert cookie is not None
        assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
            True,
            "Lax",
            "/",
        )

        type_line(browser, "play games")
        shows(browser, [("play games", "sent")], [*GREETING, ASK], "no answer")

        screenshot = tmp_path / "chat.png"
        assert browser.save_screenshot(str(screenshot))
        assert screenshot.read_bytes().startswith(PNG_SIGNATURE)

        # A reload keeps the cookie and shows the conversation; the game goes on.
        browser.refresh()
        wait_for(browser, connected, "not connected after reload")
        assert (my_lines(browser), bot_lines(browser)) == (
            [("play games", "sent")],
            [*GREETING, ASK],
        )
        type_line(browser, "yes")
        mine = [("play games", "sent"), ("yes", "sent")]
        shows(browser, mine, [*GREETING, ASK, *STARTED], "the game did not go on")
        type_line(browser, "12")
        mine.append(("12", "sent"))
        game = [*GREETING, ASK, *STARTED, "zoozl: Give number with exactly 4 digits"]
        shows(browser, mine, game, "no answer to a guess")
        browser.refresh()
        wait_for(browser, connected, "not connected after the second reload")
        assert (my_lines(browser), bot_lines(browser)) == (mine, game)
        assert browser.get_cookie("zoozl_talker")["value"] == cookie["value"]


def test_a_message_stays_sending_until_acked_and_is_resent_once(browser, tmp_path):
    with serving(tmp_path) as server:
        browser.get(f"http://{server.host}/")
        wait_for(browser, connected, "not connected")
        # The frame is lost on the way: no ack, so the page keeps it as sending.
        browser.execute_script("ws.send = () => {};")
        type_line(browser, "play games")
        assert my_lines(browser) == [("play games", "sending")]
        browser.execute_script("ws.close();")
        # Nothing was recorded yet, so the reconnect is greeted again (PROTOCOL §2).
        greeted = [*GREETING, AGAIN]
        shows(browser, [("play games", "sent")], [*greeted, ASK], "no resend")

        # Recorded, but the ack (and the reply) never reached the page.
        browser.execute_script("ws.onmessage = () => {};")
        type_line(browser, "yes")
        mine = [("play games", "sent"), ("yes", "sending")]
        assert my_lines(browser) == mine
        talker = browser.get_cookie("zoozl_talker")["value"]
        wait_until(
            lambda: "yes" in recorded(server, talker), WAIT, "'yes' to be recorded"
        )
        browser.execute_script("ws.close();")
        mine[1] = ("yes", "sent")
        shows(browser, mine, [*greeted, ASK, *STARTED], "the reply is not once")
        # A reload shows the same: the resent "yes" was recorded once.
        browser.refresh()
        wait_for(browser, connected, "not connected after reload")
        assert (my_lines(browser), bot_lines(browser)) == (
            mine,
            [*greeted, ASK, *STARTED],
        )


def recorded(server, talker: str) -> list[str]:
    """The talker's messages the server has recorded (a history of its own)."""
    client = server.connect(cookie=f"zoozl_talker={talker}")
    try:
        client.send({"operation": "history"})
        while True:
            [frame] = client.frames(1)
            if frame.get("operation") == "history":
                return [e["text"] for e in frame["data"] if e["kind"] == "message"]
    finally:
        client.close()


def forget_the_tab(driver) -> None:
    """Clear the tab's sessionStorage and leave the page, so the next get loads."""
    driver.execute_script("sessionStorage.clear();")
    driver.get("about:blank")


def token(email: str = EMAIL, **claims: object) -> str:
    """A signed token that expires in an hour unless `exp` is given."""
    hour = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    return jwt.encode({"email": email, "exp": hour, **claims}, SECRET, "HS256")


def test_with_auth_required_the_page_signs_in_with_a_token(browser, tmp_path):
    settings = {"auth_required": True, "auth_jwt_secret": SECRET}
    with serving(tmp_path, **settings) as server:
        browser.get(f"http://{server.host}/#token={token()}")
        shows(browser, [], GREETING, "not signed in with the #token")
        wait_for(browser, connected, "not connected")
        assert browser.current_url == f"http://{server.host}/"  # token not shown
        type_line(browser, "play games")
        shows(browser, [("play games", "sent")], [*GREETING, ASK], "no answer")
        browser.refresh()  # the token lives on in the tab's sessionStorage
        wait_for(browser, connected, "not connected after reload")
        assert bot_lines(browser) == [*GREETING, ASK]
        assert browser.get_cookie("zoozl_talker") is None

        # A host page that embeds the chat sets window.zoozlToken first.
        forget_the_tab(browser)
        other = token("bob@example.com")
        script = browser.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": f"window.zoozlToken = {other!r};"},
        )
        browser.get(f"http://{server.host}/")
        shows(browser, [], GREETING, "not signed in with window.zoozlToken")
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", script)

        expired = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        forget_the_tab(browser)
        browser.get(f"http://{server.host}/#token={token(exp=expired)}")
        failed = "Sign-in failed: Token has expired"
        wait_for(browser, lambda d: status(d) == failed, "no plain auth error")

        forget_the_tab(browser)
        browser.get(f"http://{server.host}/")
        wait_for(
            browser,
            lambda d: (
                status(d).startswith("Sign-in failed: Missing 'auth' key")
                and "#token=" in status(d)
            ),
            "no plain error without a token",
        )
        assert bot_lines(browser) == []


# issue 23, item 2: the page never gave a refused message up ---------------------


def submit(driver, text: str, script: str = "arguments[0]") -> None:
    """Submit `text` as if typed (set by script: NUL, long texts), or the string
    `script` makes (a lone surrogate cannot travel to the browser as JSON)."""
    driver.execute_script(
        f"const input = document.getElementById('text'); input.value = {script};"
        " document.getElementById('form').requestSubmit();",
        text,
    )


def stored(driver, key: str) -> list:
    """What the page keeps in sessionStorage under `key` (JSON text: escaped)."""
    return list(json.loads(driver.execute_script(f"return sessionStorage.{key};")))


def click(driver, text: str, button: str) -> None:
    """Click `edit` or `drop` on the failed message `text`."""
    driver.execute_script(
        "for (const p of document.querySelectorAll('#log p.me.failed'))"
        "  if (p.querySelector('.text').textContent === arguments[0])"
        "    p.querySelector('button.' + arguments[1]).click();",
        text,
        button,
    )


TOO_LONG = "Message is too long: 25 characters, the limit is 20"
NUL_IN = "Message must not contain NUL characters"
SURROGATE_IN = "Message must not contain lone surrogate characters"


def test_what_the_server_would_refuse_fails_at_once_and_is_never_sent(
    browser, tmp_path
):
    with serving(tmp_path, max_message_chars=20) as server:
        browser.get(f"http://{server.host}/")
        wait_for(browser, connected, "not connected")
        submit(browser, "x" * 25)
        submit(browser, "a\x00b")
        submit(browser, "", "'a' + String.fromCharCode(0xd800) + 'b'")
        type_line(browser, "play games")  # not held up by the failed ones
        refused = [
            ("x" * 25, f"failed: {TOO_LONG}"),
            ("a\x00b", f"failed: {NUL_IN}"),
            ("a\ufffdb", f"failed: {SURROGATE_IN}"),  # read as U+FFFD
        ]
        mine = [*refused, ("play games", "sent")]
        shows(browser, mine, [*GREETING, ASK], "refused ones not failed at once")
        assert stored(browser, "zoozl_pending") == []
        talker = browser.get_cookie("zoozl_talker")["value"]
        assert recorded(server, talker) == ["play games"]

        # A reload keeps them failed and sends them nowhere.
        browser.refresh()
        wait_for(browser, connected, "not connected after reload")
        mine = [("play games", "sent"), *refused]
        shows(browser, mine, [*GREETING, ASK], "failed ones not kept after reload")
        assert recorded(server, talker) == ["play games"]

        click(browser, "a\x00b", "drop")
        click(browser, "x" * 25, "edit")
        mine = [("play games", "sent"), refused[2]]
        shows(browser, mine, [*GREETING, ASK], "edit or drop left the line")
        from selenium.webdriver.common.by import By

        assert browser.find_element(By.ID, "text").get_attribute("value") == "x" * 25
        assert [text for _, (text, _) in stored(browser, "zoozl_failed")] == [
            "a\ud800b"
        ]


def test_what_the_server_refuses_all_the_same_fails_and_blocks_nothing(
    browser, tmp_path
):
    """The page's limits are stale (set by script): the server's error frame, and
    its 1009 close for a frame over max_frame_bytes, mark the message failed."""
    settings = {"max_message_chars": 20, "max_frame_bytes": 1024}
    with serving(tmp_path, **settings) as server:
        browser.get(f"http://{server.host}/")
        wait_for(browser, connected, "not connected")
        browser.execute_script(
            "LIMITS.max_message_chars = 1e9; LIMITS.max_frame_bytes = 1e9;"
        )
        submit(browser, "y" * 30)
        too_long = "failed: Message is too long: 30 characters, the limit is 20"
        shows(browser, [("y" * 30, too_long)], GREETING, "no error frame failure")
        submit(browser, "z" * 2000)  # over the frame limit: the server closes 1009
        type_line(browser, "play games")
        closed = "failed: Message is too large for the server (it closed the connection"
        wait_for(
            browser,
            lambda d: (
                [s[: len(closed)] for _, s in my_lines(d)[:2]]
                == [too_long[: len(closed)], closed]
                and my_lines(d)[-1] == ("play games", "sent")
                and ASK in bot_lines(d)
            ),
            "the oversized message did not fail, or held up the next one",
        )
        assert stored(browser, "zoozl_pending") == []
        talker = browser.get_cookie("zoozl_talker")["value"]
        assert recorded(server, talker) == ["play games"]
        browser.refresh()
        wait_for(browser, connected, "not connected after reload")
        assert [s.split(":")[0] for _, s in my_lines(browser)] == [
            "sent",
            "failed",
            "failed",
        ]
        assert recorded(server, talker) == ["play games"]
