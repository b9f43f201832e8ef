"""`xrfnb.paintings.wikidata` against a loopback server that plays a SPARQL endpoint and a Commons file store.

The server answers like the real services (pages cut by LIMIT/OFFSET, files with Range support) unless
a test queues faults for a path: each queued reply is played once, in order, before the normal answer.
Every request is logged, so tests can say what was asked, how often and with which headers.
"""

from __future__ import annotations

import io
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
from PIL import Image

from xrfnb.paintings.wikidata import USER_AGENT, WikidataError, build_query, fetch

pytestmark = pytest.mark.timeout(30)

SPARQL_PATH = "/sparql"
FILES_PATH = "/files/"
COMMONS = "http://commons.wikimedia.org/wiki/Special:FilePath/"
VARS = ["item", "itemLabel", "image", "creatorLabel", "inception", "typeLabel", "statusLabel"]


@dataclass
class Reply:
    """One planned HTTP answer; `cut_after` sends only that many body bytes, then drops the connection."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    cut_after: int | None = None


@dataclass
class Fake:
    """What the server plays: result rows, files by Commons name, queued faults per path, and the request log."""

    base: str = ""
    rows: list[dict] = field(default_factory=list)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    faults: dict[str, list[Reply]] = field(default_factory=dict)
    log: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        return self.base + SPARQL_PATH

    @property
    def files_url(self) -> str:
        return self.base + FILES_PATH

    def requests(self, path_prefix: str) -> list[dict]:
        return [r for r in self.log if r["path"].startswith(path_prefix)]

    def reply(self, path: str, params: dict, headers: dict) -> Reply:
        with self.lock:
            self.log.append({"path": path, "params": params, "headers": headers})
            queued = self.faults.get(path)
            if queued:
                return queued.pop(0)
        if path == SPARQL_PATH:
            return self._page(params["query"][0])
        return self._file(unquote(path[len(FILES_PATH):]), headers.get("range"))

    def _page(self, query: str) -> Reply:
        limit = int(re.search(r"LIMIT (\d+)", query).group(1))
        offset = int(re.search(r"OFFSET (\d+)", query).group(1))
        result = {"head": {"vars": VARS}, "results": {"bindings": self.rows[offset:offset + limit]}}
        return Reply(body=json.dumps(result).encode(), headers={"Content-Type": "application/sparql-results+json"})

    def _file(self, name: str, range_header: str | None) -> Reply:
        if name not in self.files:
            return Reply(404, b"no such file")
        data, content_type = self.files[name]
        if range_header is None:
            return Reply(body=data, headers={"Content-Type": content_type})
        start = int(re.fullmatch(r"bytes=(\d+)-", range_header).group(1))
        if start >= len(data):
            return Reply(416, headers={"Content-Range": f"bytes */{len(data)}"})
        return Reply(206, data[start:], {"Content-Type": content_type,
                                         "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})


def handler_for(fake: Fake) -> type[BaseHTTPRequestHandler]:
    """A request handler that logs each request in `fake` and plays its reply."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = fake.reply(url.path, parse_qs(url.query), headers)
            time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in {"Content-Length": str(len(reply.body)), **reply.headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body[:reply.cut_after])
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    state = Fake()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (32, 24), seed: int = 0) -> bytes:
    """A small real image of random pixels (so it does not compress to almost nothing)."""
    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buffer, fmt)
    return buffer.getvalue()


def row(qid: str, title: str, filename: str, *, creator: str | None = None, inception: str | None = None,
        medium: str = "painting", status: str | None = None) -> dict:
    """A result row as the Wikidata query service writes it."""
    def literal(value: str) -> dict:
        return {"xml:lang": "en", "type": "literal", "value": value}

    binding = {"item": {"type": "uri", "value": f"http://www.wikidata.org/entity/{qid}"},
               "itemLabel": literal(title), "image": {"type": "uri", "value": COMMONS + quote(filename)},
               "typeLabel": literal(medium)}
    if creator is not None:
        binding["creatorLabel"] = literal(creator)
    if inception is not None:
        binding["inception"] = {"datatype": "http://www.w3.org/2001/XMLSchema#dateTime", "type": "literal",
                                "value": inception}
    if status is not None:
        binding["statusLabel"] = literal(status)
    return binding


def add_items(fake: Fake, n: int) -> None:
    """Items Q1..Qn, each with its own PNG file."""
    for i in range(1, n + 1):
        name = f"Painting {i}.png"
        fake.rows.append(row(f"Q{i}", f"Painting {i}", name, creator=f"Artist {i}"))
        fake.files[name] = (image_bytes(seed=i), "image/png")


def run(fake: Fake, out: Path, limit: int = 100, **options) -> tuple[list[dict], list[dict], list[float]]:
    """`fetch` from the fake server with fast test settings; returns records, skipped and the waits."""
    waits: list[float] = []
    settings = {"endpoint": fake.endpoint, "files_url": fake.files_url, "timeout": 2.0, "retries": 3,
                "backoff": 0.5, "sleep": waits.append, **options}
    records, skipped = fetch(out, limit, **settings)
    return records, skipped, waits


def offsets(fake: Fake) -> list[tuple[int, int]]:
    """(LIMIT, OFFSET) of every SPARQL request, in order."""
    queries = [r["params"]["query"][0] for r in fake.requests(SPARQL_PATH)]
    return [tuple(int(re.search(rf"{word} (\d+)", q).group(1)) for word in ("LIMIT", "OFFSET")) for q in queries]


def test_query_asks_for_paintings_and_frescoes_in_a_stable_order():
    query = build_query(2, 4)
    assert "VALUES ?type { wd:Q3305213 wd:Q134194 }" in query
    assert "wdt:P18 ?image" in query and "wdt:P6216 ?status" in query
    assert query.endswith("ORDER BY ?item\nLIMIT 2\nOFFSET 4")


def test_pages_until_a_short_page(fake, tmp_path):
    add_items(fake, 5)
    records, skipped, _ = run(fake, tmp_path, page_size=2)
    assert offsets(fake) == [(2, 0), (2, 2), (2, 4)]
    assert [r["id"] for r in records] == ["Q1", "Q2", "Q3", "Q4", "Q5"] and skipped == []
    for r in records:
        assert (tmp_path / r["file"]).read_bytes() == fake.files[f"Painting {r['id'][1:]}.png"][0]


def test_stops_as_soon_as_limit_images_are_downloaded(fake, tmp_path):
    add_items(fake, 5)
    records, _, _ = run(fake, tmp_path, limit=3, page_size=2)
    assert offsets(fake) == [(2, 0), (2, 2)]
    assert [r["id"] for r in records] == ["Q1", "Q2", "Q3"]
    assert len(fake.requests(FILES_PATH)) == 3


def test_records_describe_each_painting_once(fake, tmp_path):
    fresco = image_bytes("JPEG", (40, 30), seed=7)
    fake.rows = [row("Q10", "The Kiss", "Kiss ü.jpg", creator="Anna", inception="1503-01-01T00:00:00Z",
                     status="public domain"),
                 row("Q10", "The Kiss", "Kiss ü.jpg", creator="Bruno", inception="1503-01-01T00:00:00Z",
                     status="public domain"),
                 row("Q11", "Ceiling", "Ceiling.jpg", medium="fresco", inception="-0450-01-01T00:00:00Z")]
    fake.files = {"Kiss ü.jpg": (image_bytes(), "image/png"), "Ceiling.jpg": (fresco, "image/jpeg")}
    records, skipped, _ = run(fake, tmp_path, thumb_width=320)
    assert skipped == []
    assert records == [
        {"id": "Q10", "file": "Q10.png", "title": "The Kiss", "artist": "Anna", "date": "1503",
         "medium": "painting", "licence": "public domain", "attribution": "Anna, The Kiss, via Wikimedia Commons",
         "source": "wikidata", "url": "https://commons.wikimedia.org/wiki/File:Kiss_%C3%BC.jpg",
         "width": 32, "height": 24},
        {"id": "Q11", "file": "Q11.jpg", "title": "Ceiling", "artist": "unknown", "date": "-450",
         "medium": "fresco", "licence": "unknown (see Commons file page)",
         "attribution": "unknown, Ceiling, via Wikimedia Commons", "source": "wikidata",
         "url": "https://commons.wikimedia.org/wiki/File:Ceiling.jpg", "width": 40, "height": 30}]
    first = fake.requests(FILES_PATH)[0]
    assert first["path"] == "/files/Kiss%20%C3%BC.jpg" and first["params"] == {"width": ["320"]}


def test_429_waits_as_long_as_retry_after_says(fake, tmp_path):
    add_items(fake, 1)
    fake.faults[SPARQL_PATH] = [Reply(429, b"slow down", {"Retry-After": "3"})]
    records, _, waits = run(fake, tmp_path)
    assert waits == [3] and len(fake.requests(SPARQL_PATH)) == 2 and len(records) == 1
    assert {r["headers"]["user-agent"] for r in fake.log} == {USER_AGENT}


def test_503_without_retry_after_backs_off_exponentially(fake, tmp_path):
    add_items(fake, 1)
    fake.faults[SPARQL_PATH] = [Reply(503), Reply(503)]
    records, _, waits = run(fake, tmp_path, backoff=0.5, retries=3)
    assert waits == [0.5, 1.0] and len(records) == 1


def test_gives_up_after_retries_naming_url_and_status(fake, tmp_path):
    add_items(fake, 1)
    fake.faults[SPARQL_PATH] = [Reply(503), Reply(503)]
    with pytest.raises(WikidataError, match=rf"{re.escape(fake.endpoint)} at offset 0: HTTP 503 .*2 attempts"):
        run(fake, tmp_path, retries=2)
    assert len(fake.requests(SPARQL_PATH)) == 2


def test_endpoint_that_does_not_answer_in_time_is_a_timeout(fake, tmp_path):
    add_items(fake, 1)
    fake.faults[SPARQL_PATH] = [Reply(delay=1.0), Reply(delay=1.0)]
    started = time.monotonic()
    with pytest.raises(WikidataError, match="timeout after 0.3 s"):
        run(fake, tmp_path, timeout=0.3, retries=2)
    assert len(fake.requests(SPARQL_PATH)) == 2 and time.monotonic() - started < 0.9


def test_malformed_json_is_retried(fake, tmp_path):
    add_items(fake, 1)
    fake.faults[SPARQL_PATH] = [Reply(body=b'{"head": {"vars": ["item"]}, "resu')]
    records, _, waits = run(fake, tmp_path)
    assert len(records) == 1 and waits == [0.5]


def test_malformed_json_every_time_is_an_error(fake, tmp_path):
    add_items(fake, 1)
    fake.faults[SPARQL_PATH] = [Reply(body=b"<html>proxy error</html>")] * 2
    with pytest.raises(WikidataError, match="malformed JSON"):
        run(fake, tmp_path, retries=2)


def test_missing_file_is_skipped_and_the_rest_downloaded(fake, tmp_path):
    add_items(fake, 3)
    del fake.files["Painting 2.png"]
    records, skipped, _ = run(fake, tmp_path)
    assert [r["id"] for r in records] == ["Q1", "Q3"]
    assert skipped == [{"id": "Q2", "reason": f"file not found (404) at {fake.files_url}Painting%202.png?width=640"}]


@pytest.mark.parametrize("broken", [b"<html>not an image</html>", image_bytes("PNG")[:-40], image_bytes("JPEG")[:-300]],
                         ids=["html", "truncated-png", "truncated-jpeg"])
def test_unreadable_image_is_skipped_and_removed(fake, tmp_path, broken):
    add_items(fake, 2)
    fake.files["Painting 1.png"] = (broken, "image/png")
    records, skipped, _ = run(fake, tmp_path)
    assert [r["id"] for r in records] == ["Q2"]
    assert [s["id"] for s in skipped] == ["Q1"] and "not a readable image" in skipped[0]["reason"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cache", "Q2.png"]


def test_file_download_honours_retry_after(fake, tmp_path):
    add_items(fake, 1)
    fake.faults["/files/Painting%201.png"] = [Reply(429, headers={"Retry-After": "2"})]
    records, _, waits = run(fake, tmp_path)
    assert waits == [2] and len(records) == 1 and len(fake.requests(FILES_PATH)) == 2


def test_dropped_download_resumes_with_a_range_request(fake, tmp_path):
    add_items(fake, 1)
    data = image_bytes(size=(128, 96))  # large enough that whole chunks arrive before the drop
    fake.files["Painting 1.png"] = (data, "image/png")
    half = len(data) // 2
    fake.faults["/files/Painting%201.png"] = [Reply(body=data, headers={"Content-Type": "image/png"}, cut_after=half)]
    records, _, waits = run(fake, tmp_path)
    first, second = fake.requests(FILES_PATH)
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", second["headers"]["range"]).group(1))
    assert "range" not in first["headers"] and 0 < resumed_at <= half
    assert (tmp_path / records[0]["file"]).read_bytes() == data and waits == [0.5]


def test_partial_file_from_an_earlier_run_is_completed(fake, tmp_path):
    add_items(fake, 1)
    data = fake.files["Painting 1.png"][0]
    (tmp_path / "Q1.part").write_bytes(data[:100])
    records, _, _ = run(fake, tmp_path)
    assert [r["headers"]["range"] for r in fake.requests(FILES_PATH)] == ["bytes=100-"]
    assert (tmp_path / "Q1.png").read_bytes() == data and not (tmp_path / "Q1.part").exists()


def test_server_ignoring_the_range_restarts_the_file(fake, tmp_path):
    add_items(fake, 1)
    data = fake.files["Painting 1.png"][0]
    (tmp_path / "Q1.part").write_bytes(b"stale bytes from another version")
    fake.faults["/files/Painting%201.png"] = [Reply(body=data, headers={"Content-Type": "image/png"})]
    records, _, _ = run(fake, tmp_path)
    assert (tmp_path / records[0]["file"]).read_bytes() == data


def test_partial_file_as_long_as_the_file_is_fetched_again(fake, tmp_path):
    add_items(fake, 1)
    data = fake.files["Painting 1.png"][0]
    (tmp_path / "Q1.part").write_bytes(data)
    records, _, _ = run(fake, tmp_path)
    assert [r["headers"].get("range") for r in fake.requests(FILES_PATH)] == [f"bytes={len(data)}-", None]
    assert (tmp_path / records[0]["file"]).read_bytes() == data


def test_second_fetch_asks_nothing_of_the_network(fake, tmp_path):
    add_items(fake, 5)
    first, _, _ = run(fake, tmp_path, page_size=2)
    assert len(list((tmp_path / ".cache").glob("*.json"))) == 3
    fake.log.clear()
    second, skipped, _ = run(fake, tmp_path, page_size=2)
    assert fake.log == [] and second == first and skipped == []


def test_cache_is_keyed_by_endpoint_and_query(fake, tmp_path):
    add_items(fake, 3)
    pages = tmp_path / "pages"
    run(fake, tmp_path, page_size=5, cache_dir=pages)
    run(fake, tmp_path, page_size=4, cache_dir=pages)
    run(fake, tmp_path, page_size=4, cache_dir=pages, endpoint=fake.endpoint.replace("127.0.0.1", "localhost"))
    run(fake, tmp_path, page_size=4, cache_dir=pages)
    assert offsets(fake) == [(5, 0), (4, 0), (4, 0)] and len(list(pages.glob("*.json"))) == 3


def test_file_still_overloaded_after_retries_is_an_error(fake, tmp_path):
    add_items(fake, 1)
    fake.faults["/files/Painting%201.png"] = [Reply(503), Reply(503)]
    url = f"{fake.files_url}Painting%201.png?width=640"
    with pytest.raises(WikidataError, match=rf"download of {re.escape(url)}: HTTP 503 \(gave up after 2 attempts\)"):
        run(fake, tmp_path, retries=2)


def test_a_files_url_without_a_trailing_slash_is_joined_properly(fake, tmp_path):
    add_items(fake, 2)
    records, skipped, _ = run(fake, tmp_path, files_url=fake.files_url.rstrip("/"))
    assert [r["id"] for r in records] == ["Q1", "Q2"] and not skipped


def test_a_fetch_that_ends_with_no_image_fails_naming_the_first_failure(fake, tmp_path):
    add_items(fake, 2)
    fake.files.clear()
    with pytest.raises(RuntimeError, match=r"no usable image .* the first failure: Q1: file not found \(404\)"):
        run(fake, tmp_path)
