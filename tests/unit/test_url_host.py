"""The input check reads a URL's host in plain Python (url_host.py) and the transport with the client's parser
(client_url.py, pyreqwest's WHATWG `Url`): both must give the same target, or refuse alike."""

from __future__ import annotations

import random

import pytest

from verihook.delivery.client_url import client_target
from verihook.delivery.guard import TargetAddress, check_url, parse_target
from verihook.errors import InvalidInput

CASES = [
    "http://a!b.com/", "http://a$b/", "http://a&b'()*+,;=c/", "http://a~b/", "http://a_b/", "http://-a-/",
    "http://a.-b/", "http://ab--cd/", "http://a..b/", "http://.../", "http://a.b.c.d.e.f/", "http://a/",
    "HTTPS://Example.COM/Path", "http://example.com./", "http://u:p@h/", "http://a@b@c/",
    # legacy IPv4 forms, and hosts whose last label is a number
    "http://2130706433/", "http://0x7f.1/", "http://127.1/", "http://0x7F.0.0.01/", "http://0/", "http://0x/",
    "http://1.2.3.4./", "http://1.2.3.4../", "http://1.2.3.4.5/", "http://example.123/", "http://09/",
    "http://08.1/", "http://.1/", "http://1..2/", "http://4294967295/", "http://4294967296/",
    "http://0xffffffff/", "http://0x100000000/", "http://1.0xffffff/", "http://1.0x1000000/",
    "http://00000000000000000000000000000000001/", "http://1.2.3.0x/", "http://0xG/", "http://1.2.3.08/",
    "http://a.0x/", "http://a.09/", "http://a.0/",
    # IPv6
    "http://[::1]/", "http://[::1]:8080/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:01.2.3.4]/",
    "http://[1::2::3]/", "http://[2606:4700:4700::1111]/", "http://[::1]x/",
    # ports
    "http://h:/", "http://h:0080/", "http://h:65535/", "http://h:65536/", "http://h:8x/",
    # IDNA labels
    "http://xn--zz/", "http://xn--nxasmq6b/", "http://XN--NXASMQ6B/", "http://xn--a/", "http://xn--/",
    "http://xn--a-ecp.ru/", "http://xn--ls8h/", "http://xn--bcher-kva.ch/", "http://xn--mgbh0fb.example/",
    "http://xn--mgbh0fb.1com/", "http://xn---7kwku/", "http://xn----rvd.com/", "http://xn--90a3ac.xn--p1ai/",
    "ftp://example.com/",
]


def client_reading(url: str) -> TargetAddress | None:
    try:
        return client_target(url)
    except ValueError:
        return None


def input_reading(url: str) -> TargetAddress | None:
    try:
        return parse_target(url)
    except ValueError:
        return None


@pytest.mark.parametrize("url", CASES)
def test_the_input_check_reads_a_host_as_the_client_does(url: str) -> None:
    assert input_reading(url) == client_reading(url)


def test_random_ascii_hosts_read_alike() -> None:
    """Hosts of the characters a URL may carry in a host (exact_url.py lets no other through)."""
    chooser = random.Random(20261205)
    alphabet = "0123456789abcdefxX.-:[]!$&'()*+,;=~_"
    for _ in range(20_000):
        url = "http://" + "".join(chooser.choice(alphabet) for _ in range(chooser.randint(0, 12))) + "/p"
        assert input_reading(url) == client_reading(url), url


def test_random_idna_labels_read_alike_or_are_refused_at_input() -> None:
    """Punycode labels of many scripts (combining marks, joiners, right-to-left, symbols, digits), all known to
    this Python's Unicode tables."""
    chooser = random.Random(20261205)
    ranges = [(0x61, 0x7A), (0xC0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF),
              (0x600, 0x6FF), (0x660, 0x669), (0x900, 0x97F), (0x200B, 0x200F), (0x2460, 0x24FF),
              (0x3040, 0x30FF), (0x4E00, 0x4E50), (0xFF00, 0xFFEF), (0x1F300, 0x1F5FF), (0x30, 0x39), (0x2D, 0x2D)]
    accepted = 0
    for _ in range(5_000):
        text = "".join(chr(chooser.randint(*chooser.choice(ranges))) for _ in range(chooser.randint(1, 6)))
        label = text.encode("punycode").decode("ascii")
        url = f"http://xn--{label}.{chooser.choice(['example', 'xn--mgbh0fb', '1com', 'com'])}/"
        expected = client_reading(url)
        assert input_reading(url) == expected, (url, text)
        accepted += expected is not None
    assert accepted > 300  # the corpus holds valid names, not only refusals


def test_a_code_point_newer_than_pythons_unicode_is_refused_at_input() -> None:
    """The one difference allowed: a label holding a code point this Python's Unicode tables do not know (here
    Egyptian hieroglyphs of Unicode 16) is refused when given, though the client may take it."""
    url = "http://xn--e69dqzwa.example/"
    assert input_reading(url) is None
    with pytest.raises(InvalidInput, match="not valid"):
        check_url(url, allow_private_targets=False)
