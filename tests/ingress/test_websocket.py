"""The websocket chat (PROTOCOL §2, §4, §9) against a real embedded server."""

from __future__ import annotations

import datetime
import json
import re
import socket
import time

import jwt
import pytest
import websocket
from websocket import ABNF

from ingress.websocket import session as ws_session
from tests.ingress.wsserver import (
    ASK,
    GREETING,
    Server,
    assert_flood_answered,
    assert_handshakes_capped,
    assert_one_address_cannot_take_every_slot,
    assert_slow_handshakes_closed,
    bytes_after_close,
    serving,
)
from tests.plugins.wire import BIG_TEXT, SLOW_SECONDS, SLOW_TEXTS
from zoozl.config import DEFAULT_EXTENSIONS
from zoozl.ops.metrics import OPEN_WEBSOCKETS
from zoozl.plugins import bullgame
from zoozl.plugins.bullgame import START

START_FRAMES = [{"author": "zoozl", "text": text} for text in START]
SCORE = re.compile(
    bullgame.SCORE.format(bulls="[0-3]", cows="[0-4]") + "|" + re.escape(bullgame.WON)
)
COOKIE = re.compile(
    r"zoozl_talker=([0-9a-f]{32}\.[0-9a-f]{32}); Path=/; Max-Age=31536000; HttpOnly; "
    r"SameSite=Lax"
)
#: A message may carry this many bytes (the default max_frame_bytes).
FRAME_LIMIT = 1024 * 1024
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_BAD_DATA = 1007
#: 64 bytes: long enough that PyJWT does not warn, even for HS512.
SECRET = "zoozl-test-secret-" * 3 + "0123456789"
OTHER_SECRET = SECRET[::-1]
EMAIL = "ann@example.com"

# Two embedded servers must not run at once in one process: memory:// is one
# process-wide broker, so one server's worker would take the other's tasks. A
# server is therefore shared by a class (stopped when the class ends) or a test.


@pytest.fixture(scope="class")
def shared_server(tmp_path_factory):
    """The default bot plus tests.plugins.wire, for a whole class of tests."""
    settings = {"extensions": [*DEFAULT_EXTENSIONS, "tests.plugins.wire"]}
    with serving(tmp_path_factory.mktemp("ws"), **settings) as found:
        yield found


@pytest.fixture
def server(shared_server):
    """The class's server; the clients a test opens are closed after it."""
    with Server(shared_server.port) as found:
        yield found


@pytest.fixture(scope="class")
def shared_auth_server(tmp_path_factory):
    settings = {"auth_required": True, "auth_jwt_secret": SECRET}
    with serving(tmp_path_factory.mktemp("auth"), **settings) as found:
        yield found


@pytest.fixture
def auth_server(shared_auth_server):
    with Server(shared_auth_server.port) as found:
        yield found


def open_sessions() -> float:
    """Chat sessions open in this process (the zoozl_open_websockets gauge)."""
    return OPEN_WEBSOCKETS._value.get()


def assert_session_works(client):
    client.say("play games")
    assert client.frames(1) == [ASK]
    client.assert_quiet()


def list_messages(client, **paging):
    client.send({"operation": "list_messages", **paging})
    [answer] = client.frames(1)
    client.assert_quiet()
    return answer


def token(claims=None, key=SECRET, algorithm="HS256"):
    claims = {"email": EMAIL} if claims is None else claims
    claims = {"exp": time.time() + 3600, **claims}  # `exp` is required
    return jwt.encode(claims, key, algorithm=algorithm)


def unsigned_token():
    """An `alg: none` token, which PyJWT will not even encode."""
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(json.dumps({"email": EMAIL}).encode()).decode()
    return f"{header}.{body}."


def authenticate(client, value):
    client.send({"auth": {"token": value}})


class TestOneServer:
    """Every case of the default config against one server, hostile ones included;
    the last test checks the server still greets a fresh client after all of them.
    """

    # Handshake and routes

    @pytest.mark.parametrize("path", ["/", "/ws"])
    def test_upgrade_is_accepted_on_root_and_ws(self, server, path):
        client = server.connect(path)
        assert client.frames(2) == GREETING
        assert_session_works(client)

    # Identity: the talker cookie

    def test_a_new_client_gets_the_talker_cookie_on_the_101(self, server):
        client = server.connect()
        assert COOKIE.fullmatch(client.cookie)
        assert client.frames(2) == GREETING
        client.assert_quiet()

    def test_a_reconnect_with_the_cookie_continues_the_game(self, server):
        first = server.greeted()
        first.say("play games")
        assert first.frames(1) == [ASK]
        first.say("yes")
        assert first.frames(2) == START_FRAMES
        first.close()

        again = server.connect(cookie=f"zoozl_talker={first.talker}")
        assert again.cookie is None
        again.assert_quiet()  # no greeting
        again.say("1234")
        [reply] = again.frames(1)
        assert list(reply) == ["author", "text"]
        assert reply["author"] == "zoozl"
        assert SCORE.fullmatch(reply["text"])
        again.assert_quiet()

    @pytest.mark.parametrize(
        "value",
        [
            "garbage",
            "0" * 31,
            "A" * 32,
            "0" * 33,
            "../../etc/passwd",
            "x' OR 1=1",
            "0" * 32,  # an old unsigned cookie, or one a client made up
            "0" * 32 + "." + "0" * 32,  # a forged signature
        ],
    )
    def test_a_garbage_cookie_is_a_new_talker_with_a_new_cookie(self, server, value):
        client = server.connect(cookie=f"zoozl_talker={value}")
        assert COOKIE.fullmatch(client.cookie)
        assert client.talker != value
        assert client.frames(2) == GREETING

    def test_a_cookie_with_another_talkers_signature_is_a_new_talker(self, server):
        ann, bob = server.greeted(), server.greeted()
        forged = ann.talker.split(".")[0] + "." + bob.talker.split(".")[1]
        client = server.connect(cookie=f"zoozl_talker={forged}")
        assert COOKIE.fullmatch(client.cookie)
        assert client.talker not in (ann.talker, forged)
        assert client.frames(2) == GREETING

    def test_two_new_clients_are_two_talkers(self, server):
        assert server.greeted().talker != server.greeted().talker

    # Replies

    def test_replies_are_author_and_text_frames_in_order(self, server):
        client = server.greeted()
        client.say("play games")
        assert client.frames(1) == [ASK]
        client.say("yes")
        frames = client.frames(2)
        assert frames == START_FRAMES
        assert all(list(frame) == ["author", "text"] for frame in frames)
        client.assert_quiet()

    # Errors: exactly one error frame each, and the session lives on

    @pytest.mark.parametrize("raw", ["not json", "{", "{'text': 'hi'}", "", '{"a": '])
    def test_invalid_json_gets_exactly_one_error_frame(self, server, raw):
        client = server.greeted()
        client.ws.send(raw)
        assert client.frames(1) == [{"error": f"Invalid JSON format '{raw}'"}]
        client.assert_quiet()
        assert_session_works(client)

    def test_an_error_frame_repeats_200_characters_and_the_length(self, server):
        client = server.greeted()
        raw = "{" + "x" * (FRAME_LIMIT - 100)
        client.ws.send(raw)
        error = f"Invalid JSON format '{raw[:200]}... ({len(raw)} characters)'"
        assert client.frames(1) == [{"error": error}]
        client.send({"operation": "x" * 10_000})
        [frame] = client.frames(1)
        assert frame["error"].endswith(" (10002 characters)")
        assert len(frame["error"]) < 300
        assert_session_works(client)

    @pytest.mark.parametrize("page", [2**62, 2**63, 10**100, 1_000_001])
    def test_an_out_of_range_page_is_one_error_and_the_session_lives(
        self, server, page
    ):
        client = server.greeted()
        client.send({"operation": "list_messages", "page": page, "page_size": 100})
        assert client.frames(1) == [{"error": "'page' must be at most 1000000"}]
        client.assert_quiet()
        assert list_messages(client, page=1_000_000, page_size=100)["data"] == []
        assert_session_works(client)

    @pytest.mark.parametrize("payload", [{}, {"txt": "hi"}, {"Text": "hi"}])
    def test_an_object_without_text_or_operation_gets_one_error(self, server, payload):
        client = server.greeted()
        client.send(payload)
        assert client.frames(1) == [{"error": "Missing 'text'/'operation' key in JSON"}]
        client.assert_quiet()
        assert_session_works(client)

    @pytest.mark.parametrize("payload", [["play games"], 5, 1.5, None, "hi", True])
    def test_non_object_json_gets_one_error_frame(self, server, payload):
        client = server.greeted()
        client.send(payload)
        assert client.frames(1) == [{"error": "JSON message must be an object"}]
        client.assert_quiet()
        assert_session_works(client)

    @pytest.mark.parametrize(
        ("payload", "error"),
        [
            ({"text": 5}, "Message 'text' must be a string"),
            ({"text": None}, "Message 'text' must be a string"),
            ({"text": ["play games"]}, "Message 'text' must be a string"),
            ({"text": "a\x00b"}, "Message must not contain NUL characters"),
            ({"operation": "drop_tables"}, "Unknown operation 'drop_tables'"),
            ({"operation": None}, "Unknown operation None"),
            (
                {"operation": "list_messages", "page": 0},
                "'page' must be a positive integer",
            ),
            (
                {"operation": "list_messages", "page": "2"},
                "'page' must be a positive integer",
            ),
            (
                {"operation": "list_messages", "page": True},
                "'page' must be a positive integer",
            ),
            (
                {"operation": "list_messages", "page_size": -1},
                "'page_size' must be a positive integer",
            ),
        ],
    )
    def test_bad_values_get_one_error_frame(self, server, payload, error):
        client = server.greeted()
        client.send(payload)
        assert client.frames(1) == [{"error": error}]
        client.assert_quiet()
        assert_session_works(client)

    # Frames (RFC 6455)

    def test_a_message_just_under_the_frame_limit_over_max_chars_is_one_error(
        self, server
    ):
        client = server.greeted()
        length = FRAME_LIMIT - 64
        client.say("x" * length)
        error = f"Message is too long: {length} characters, the limit is 4000"
        assert client.frames(1) == [{"error": error}]
        client.assert_quiet()
        assert_session_works(client)

    def test_a_reply_far_over_32_kib_reaches_the_client(self, server):
        client = server.greeted()
        client.say("big reply")
        assert client.frames(1) == [{"author": "zoozl", "text": BIG_TEXT}]
        assert len(BIG_TEXT) == 200 * 1024
        assert_session_works(client)

    def test_a_message_in_three_fragments_is_one_message(self, server):
        client = server.greeted()
        raw = json.dumps({"text": "play games"}).encode()
        client.ws.send_frame(ABNF.create_frame(raw[:5], ABNF.OPCODE_TEXT, fin=0))
        client.ws.send_frame(ABNF.create_frame(raw[5:12], ABNF.OPCODE_CONT, fin=0))
        client.ws.send_frame(ABNF.create_frame(raw[12:], ABNF.OPCODE_CONT, fin=1))
        assert client.frames(1) == [ASK]
        client.assert_quiet()

    def test_a_ping_between_fragments_gets_its_pong(self, server):
        client = server.greeted()
        raw = json.dumps({"text": "play games"}).encode()
        client.ws.send_frame(ABNF.create_frame(raw[:7], ABNF.OPCODE_TEXT, fin=0))
        client.ws.ping(b"mid")
        client.ws.send_frame(ABNF.create_frame(raw[7:], ABNF.OPCODE_CONT, fin=1))
        assert client.frame() == (ABNF.OPCODE_PONG, b"mid")
        assert client.frames(1) == [ASK]
        client.assert_quiet()

    def test_a_binary_frame_of_utf8_json_is_a_message(self, server):
        client = server.greeted()
        client.ws.send_binary(json.dumps({"text": "play games"}).encode())
        assert client.frames(1) == [ASK]
        client.assert_quiet()

    def test_a_binary_frame_that_is_not_utf8_gets_one_error(self, server):
        client = server.greeted()
        client.ws.send_binary(b"\xff\xfe\x00garbage")
        assert client.frames(1) == [{"error": "Binary frames must be UTF-8 JSON text"}]
        client.assert_quiet()
        assert_session_works(client)

    def test_a_ping_gets_a_pong_and_no_error_frame(self, server):
        client = server.greeted()
        client.ws.ping(b"are you there")
        assert client.frame() == (ABNF.OPCODE_PONG, b"are you there")
        client.assert_quiet()
        assert_session_works(client)

    def test_an_unsolicited_pong_is_ignored(self, server):
        client = server.greeted()
        client.ws.pong(b"nobody asked")
        client.assert_quiet()
        assert_session_works(client)

    def test_a_message_over_max_frame_bytes_closes_with_1009(self, server):
        client = server.greeted()
        client.say("x" * FRAME_LIMIT)
        assert client.close_code() == CLOSE_TOO_BIG

    def test_fragments_adding_up_over_max_frame_bytes_close_with_1009(self, server):
        client = server.greeted()
        half = b"x" * (FRAME_LIMIT // 2)
        first = ABNF.create_frame(b'{"text": "' + half, ABNF.OPCODE_TEXT, fin=0)
        client.ws.send_frame(first)
        client.ws.send_frame(ABNF.create_frame(half, ABNF.OPCODE_CONT, fin=0))
        client.ws.send_frame(ABNF.create_frame(b'"}', ABNF.OPCODE_CONT, fin=1))
        assert client.close_code() == CLOSE_TOO_BIG

    def test_a_text_frame_that_is_not_utf8_closes_with_1007(self, server):
        client = server.greeted()
        client.ws.send_frame(ABNF.create_frame(b'{"text": "\xff"}', ABNF.OPCODE_TEXT))
        assert client.close_code() == CLOSE_BAD_DATA

    def test_a_close_from_the_client_is_answered_with_its_code(self, server):
        client = server.greeted()
        client.ws.send_frame(ABNF.create_frame(b"\x03\xe8", ABNF.OPCODE_CLOSE))
        assert client.close_code() == 1000

    def test_messages_over_max_frame_bytes_leave_no_session_behind(self, server):
        before = open_sessions()
        for _ in range(4):
            client = server.greeted()
            client.say("x" * FRAME_LIMIT)
            assert client.close_code() == CLOSE_TOO_BIG
            client.ws.shutdown()
        deadline = time.monotonic() + 5
        while open_sessions() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_sessions() <= before

    # list_messages

    def test_list_messages_shows_only_the_callers_own_messages(self, server):
        ann, bob = server.greeted(), server.greeted()
        ann.say("play games")
        assert ann.frames(1) == [ASK]
        bob.say("big reply")
        assert bob.frames(1) == [{"author": "zoozl", "text": BIG_TEXT}]
        ann.say("yes")
        assert ann.frames(2) == START_FRAMES

        answer = list_messages(ann)
        assert list(answer) == ["operation", "data", "page", "page_size", "total_count"]
        assert answer["operation"] == "list_messages"
        assert (answer["page"], answer["page_size"], answer["total_count"]) == (
            1,
            10,
            2,
        )
        assert [item["message"] for item in answer["data"]] == ["yes", "play games"]
        [ann_user] = {item["user"] for item in answer["data"]}
        assert answer["data"][0]["response"] == "\n".join(START)
        assert answer["data"][1]["response"] == ASK["text"]
        for item in answer["data"]:
            assert item.keys() == {"date", "user", "message", "response", "status"}
            date = datetime.datetime.fromisoformat(item["date"])
            assert date.utcoffset() == datetime.timedelta(0)
            assert abs(time.time() - date.timestamp()) < 60

        answer = list_messages(bob)
        assert answer["total_count"] == 1
        [(bob_user, text)] = [(i["user"], i["message"]) for i in answer["data"]]
        assert text == "big reply"
        # a stable display id, never the HttpOnly cookie or the id it signs
        assert ann_user != bob_user
        for client, user in ((ann, ann_user), (bob, bob_user)):
            assert user == list_messages(client)["data"][0]["user"]
            for secret in (client.talker, *client.talker.split(".")):
                assert secret not in user

    def test_list_messages_pages_newest_first(self, server):
        client = server.greeted()
        for text in ("play games", "first", "second"):
            client.say(text)
            assert client.frames(1) == [ASK]
        answer = list_messages(client, page=1, page_size=2)
        assert [item["message"] for item in answer["data"]] == ["second", "first"]
        assert (answer["page"], answer["page_size"], answer["total_count"]) == (1, 2, 3)
        answer = list_messages(client, page=2, page_size=2)
        assert [item["message"] for item in answer["data"]] == ["play games"]
        answer = list_messages(client, page=3, page_size=2)
        assert (answer["data"], answer["total_count"]) == ([], 3)

    def test_list_messages_of_a_new_talker_is_empty(self, server):
        client = server.greeted()
        assert list_messages(client) == {
            "operation": "list_messages",
            "data": [],
            "page": 1,
            "page_size": 10,
            "total_count": 0,
        }

    # Origin (cross-site websocket hijacking)

    @pytest.mark.parametrize(
        "origin",
        ["http://evil.example", "null", "http://127.0.0.1", "https://localhost"],
    )
    def test_a_foreign_browser_origin_is_refused(self, server, origin):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            server.connect(origin=origin)
        assert refused.value.status_code == 403

    def test_the_same_host_origin_is_allowed(self, server):
        client = server.connect(origin=f"http://{server.host}")
        assert client.frames(2) == GREETING

    # Host (DNS rebinding: Host and Origin both the attacker's name)

    @pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "[::2]"])
    def test_a_foreign_host_is_refused_before_the_upgrade(self, server, host):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            server.connect(host=host, origin=f"http://{host}")
        assert refused.value.status_code == 403

    @pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "LOCALHOST"])
    def test_the_configured_host_and_localhost_are_allowed(self, server, name):
        host = f"{name}:{server.port}"
        client = server.connect(host=host, origin=f"http://{host}")
        assert client.frames(2) == GREETING

    def test_no_origin_is_allowed(self, server):
        client = server.connect(suppress_origin=True)
        assert client.frames(2) == GREETING

    # Replies to a closed session

    @pytest.mark.parametrize(
        "wait", [0.0, SLOW_SECONDS + 1.0], ids=["at-once", "after-the-reply"]
    )
    def test_replies_to_a_closed_session_arrive_on_the_next(self, server, wait):
        first = server.greeted()
        first.say("answer slowly")
        first.close()
        time.sleep(wait)
        again = server.connect(cookie=f"zoozl_talker={first.talker}")
        assert again.cookie is None
        assert again.frames(2) == [{"author": "zoozl", "text": t} for t in SLOW_TEXTS]
        again.assert_quiet()
        assert_session_works(again)

    # The server survives all of the above

    def test_nothing_follows_the_close_frame_on_the_socket(self, server):
        for _ in range(5):  # the stray response used to race the close frame
            assert bytes_after_close(server.port) == b""

    def test_hostile_connections_leave_the_server_serving(self, server):
        address = ("127.0.0.1", server.port)
        with socket.create_connection(address, timeout=5) as raw:
            raw.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
            assert raw.recv(4096).startswith(b"HTTP/1.1 400 ")
        with socket.create_connection(address, timeout=5) as raw:
            raw.sendall(  # no Sec-WebSocket-Key, no Sec-WebSocket-Version
                b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n\r\n"
            )
            assert raw.recv(1024).startswith(b"HTTP/1.1 400 ")
        cut = server.greeted()
        cut.ws.sock.sendall(b"\x81\xfe\xff")  # a frame header cut short
        cut.ws.shutdown()
        assert_session_works(server.greeted())

    def test_a_fresh_client_is_still_greeted_after_all_of_the_above(self, server):
        client = server.connect()
        assert COOKIE.fullmatch(client.cookie)
        assert client.frames(2) == GREETING
        assert_session_works(client)


class TestAuthRequired:
    """auth_required: no cookie; the first frame must carry a valid HS256 JWT."""

    @pytest.mark.parametrize(
        "first",
        [{"text": "play games"}, {"operation": "list_messages"}, {"auth": "x"}, []],
    )
    def test_the_first_frame_must_be_auth(self, auth_server, first):
        client = auth_server.connect()
        assert client.cookie is None
        client.assert_quiet()  # no greeting before authentication
        client.send(first)
        assert client.frames(1) == [{"error": "Missing 'auth' key in JSON"}]
        assert client.close_code() == CLOSE_POLICY

    def test_invalid_json_first_is_missing_auth(self, auth_server):
        client = auth_server.connect()
        client.ws.send("not json")
        assert client.frames(1) == [{"error": "Missing 'auth' key in JSON"}]
        assert client.close_code() == CLOSE_POLICY

    def test_a_client_that_never_authenticates_is_closed(
        self, auth_server, monkeypatch
    ):
        monkeypatch.setattr(ws_session, "AUTH_SECONDS", 0.5)
        client = auth_server.connect()
        assert client.frames(1) == [{"error": "No 'auth' frame in time"}]
        assert client.close_code() == CLOSE_POLICY

    def test_a_talker_cookie_is_no_identity(self, auth_server):
        client = auth_server.connect(cookie="zoozl_talker=" + "0" * 32)
        assert client.cookie is None
        client.say("play games")
        assert client.frames(1) == [{"error": "Missing 'auth' key in JSON"}]
        assert client.close_code() == CLOSE_POLICY

    def test_a_valid_token_greets_and_the_talker_is_its_email(self, auth_server):
        client = auth_server.connect()
        assert client.cookie is None
        authenticate(client, token({"email": EMAIL, "exp": time.time() + 60}))
        assert client.frames(2) == GREETING
        assert_session_works(client)
        [item] = list_messages(client)["data"]
        assert (item["user"], item["message"]) == (EMAIL, "play games")
        client.close()

        again = auth_server.connect()
        authenticate(again, token())
        again.assert_quiet()  # the same conversation: no greeting
        again.say("yes")
        assert again.frames(2) == START_FRAMES

    @pytest.mark.parametrize(
        ("value", "error"),
        [
            (
                token(key=OTHER_SECRET),
                "Invalid token: Signature verification failed",
            ),
            (token({"email": EMAIL, "exp": time.time() - 60}), "Token has expired"),
            (token({"sub": "ann"}), "Token has no 'email' claim"),
            (
                jwt.encode({"email": EMAIL}, SECRET, algorithm="HS256"),
                "Token has no 'exp' claim",
            ),
            (token({"exp": time.time() - 3600}), "Token has expired"),
            (
                token({"nbf": time.time() + 3600}),
                "Invalid token: The token is not yet valid (nbf)",
            ),
            (token({"email": ""}), "Token has no 'email' claim"),
            (token({"email": [EMAIL]}), "Token has no 'email' claim"),
            (
                token({"email": "a" * 100_000 + "@example.test"}),
                "Token 'email' claim must be a string of 1 to 256 characters, "
                "without NUL or lone surrogates",
            ),
            (
                token({"email": "ann\x00@example.test"}),
                "Token 'email' claim must be a string of 1 to 256 characters, "
                "without NUL or lone surrogates",
            ),
            (
                unsigned_token(),
                "Invalid token: The specified alg value is not allowed",
            ),
            (
                token(algorithm="HS512"),
                "Invalid token: The specified alg value is not allowed",
            ),
            ("not.a.token", "Invalid token: Invalid header padding"),
            ("", "Missing 'token' in 'auth'"),
        ],
        ids=[
            "forged",
            "expired",
            "no-email",
            "no-exp",
            "expired-long-ago",
            "not-yet-valid",
            "empty-email",
            "email-list",
            "email-100kB",
            "email-NUL",
            "alg-none",
            "hs512",
            "garbage",
            "empty",
        ],
    )
    def test_a_bad_token_gets_an_error_frame_and_a_close(
        self, auth_server, value, error
    ):
        client = auth_server.connect()
        authenticate(client, value)
        assert client.frames(1) == [{"error": error}]
        assert client.close_code() == CLOSE_POLICY

    @pytest.mark.parametrize(("claim", "skew"), [("exp", -10), ("nbf", 10)])
    def test_the_clock_leeway_applies_to_exp_and_nbf(self, auth_server, claim, skew):
        client = auth_server.connect()
        email = f"{claim}@example.com"  # a new talker: greeted
        authenticate(client, token({"email": email, claim: time.time() + skew}))
        assert client.frames(2) == GREETING

    def test_the_server_still_greets_a_good_token(self, auth_server):
        client = auth_server.connect()
        authenticate(client, token({"email": "bob@example.com"}))
        assert client.frames(2) == GREETING


# Plain HTTP on the websocket routes: the Flask app alone, no server


@pytest.fixture
def web(web_app):
    return web_app()


def test_plain_get_of_ws_is_400(web):
    assert web.get("/ws").status_code == 400


def test_post_to_ws_is_405(web):
    assert web.post("/ws", data=b"{}").status_code == 405


def test_plain_get_of_root_serves_the_chat_page(web):
    answer = web.get("/", buffered=True)  # read (and closed) here
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/html")
    assert b"new WebSocket(" in answer.data


# Settings that need a server of their own


def test_cookie_secure_adds_secure(tmp_path):
    with serving(tmp_path, cookie_secure=True) as secure:
        client = secure.connect()
        assert client.cookie.endswith("; SameSite=Lax; Secure")
        assert COOKIE.fullmatch(client.cookie.removesuffix("; Secure"))
        assert client.frames(2) == GREETING


def test_allowed_origins_are_honoured(tmp_path):
    listed = "https://chat.example.com"
    with serving(tmp_path, allowed_origins=[listed]) as guarded:
        assert guarded.connect(origin=listed).frames(2) == GREETING
        # the server's own page (GET /) still works
        same_host = guarded.connect(origin=f"http://{guarded.host}")
        assert same_host.frames(2) == GREETING
        for other in ("https://evil.example.com", listed + ".evil.example"):
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                guarded.connect(origin=other)
            assert refused.value.status_code == 403


def test_a_message_just_under_the_frame_limit_is_answered(tmp_path):
    settings = {
        "extensions": ["zoozl.plugins.greeter", "zoozl.plugins.pong"],
        "max_message_chars": 2 * FRAME_LIMIT,
    }
    with serving(tmp_path, **settings) as echo:
        client = echo.greeted()
        text = "x" * (FRAME_LIMIT - 64)
        raw = json.dumps({"text": text})
        assert FRAME_LIMIT - 100 < len(raw) <= FRAME_LIMIT
        client.ws.send(raw)
        assert client.frames(1) == [{"author": "zoozl", "text": text}]
        client.assert_quiet()


def test_allowed_hosts_replace_the_default(tmp_path):
    with serving(tmp_path, allowed_hosts=["chat.example.com"]) as guarded:
        origin = "https://chat.example.com"
        listed = guarded.connect(host="chat.example.com", origin=origin)
        assert listed.frames(2) == GREETING
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            guarded.connect()  # 127.0.0.1 is no longer listed
        assert refused.value.status_code == 403


def test_slow_and_silent_handshakes_are_closed(tmp_path):
    with serving(tmp_path, handshake_timeout=1) as guarded:
        assert_slow_handshakes_closed(guarded.port)
        client = guarded.greeted()
        time.sleep(1.5)  # a session outlives the handshake deadline
        assert_session_works(client)


def test_handshakes_over_the_cap_are_answered_503_with_retry_after(
    tmp_path, caplog, monkeypatch
):
    with serving(tmp_path, max_handshakes=2) as guarded:
        assert_handshakes_capped(guarded.port, lambda: caplog.text, monkeypatch)


def test_a_handshake_flood_is_answered_503_with_retry_after(tmp_path, caplog):
    with serving(tmp_path, max_handshakes=4) as guarded:
        assert_flood_answered(
            guarded.port, 200, lambda: caplog.text, "(max_handshakes)"
        )
        assert_session_works(guarded.greeted())


def test_one_address_cannot_take_every_handshake_slot(tmp_path, caplog, monkeypatch):
    settings = {"max_handshakes": 4, "max_handshakes_per_address": 1}
    with serving(tmp_path, **settings) as guarded:
        assert_one_address_cannot_take_every_slot(
            guarded.port, lambda: caplog.text, monkeypatch
        )


def test_the_cookie_secret_is_kept_beside_the_store(tmp_path):
    with serving(tmp_path) as first:
        talker = first.greeted().talker
        first.clients[0].say("play games")
        assert first.clients[0].frames(1) == [ASK]
    secret = tmp_path / "z.db.cookie_secret"
    assert secret.stat().st_mode & 0o077 == 0 and len(secret.read_bytes()) == 64
    with serving(tmp_path) as restarted:  # the same secret: same talker
        again = restarted.connect(cookie=f"zoozl_talker={talker}")
        assert again.cookie is None
        again.say("yes")
        assert again.frames(2) == START_FRAMES
    with serving(tmp_path, cookie_secret="another-secret-" * 3) as other:
        stranger = other.connect(cookie=f"zoozl_talker={talker}")
        assert COOKIE.fullmatch(stranger.cookie)
        assert stranger.frames(2) == GREETING


def test_auth_max_age_seconds_bounds_iat_instead_of_exp(tmp_path):
    settings = {
        "auth_required": True,
        "auth_jwt_secret": SECRET,
        "auth_max_age_seconds": 600,
    }
    no_exp = {"email": EMAIL}
    with serving(tmp_path, **settings) as bounded:
        fresh = bounded.connect()
        authenticate(fresh, jwt.encode({**no_exp, "iat": time.time()}, SECRET))
        assert fresh.frames(2) == GREETING
        for claims, error in [
            ({**no_exp, "iat": time.time() - 3600}, "Token has expired"),
            (no_exp, "Token has no 'iat' claim"),
        ]:
            client = bounded.connect()
            authenticate(client, jwt.encode(claims, SECRET))
            assert client.frames(1) == [{"error": error}]
            assert client.close_code() == CLOSE_POLICY
