"""Seed images from Wikidata, the paper's source: every painting or fresco with an image on Commons.

`fetch` pages through one SPARQL query (stable order, so pages and their cache are deterministic),
downloads a thumbnail of each item's Commons image, verifies it with PIL and returns a record per
image plus a reason per item it could not use. Rate limiting (429), overload (503), timeouts,
dropped connections and garbled replies are retried with back-off; query pages are cached and
finished images are kept, so a second run with the same arguments touches the network not at all,
and an interrupted download resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar
from urllib.error import HTTPError
from urllib.parse import quote, unquote, urlsplit

import requests
from PIL import Image
from SPARQLWrapper import GET, JSON, SPARQLWrapper
from SPARQLWrapper.SPARQLExceptions import SPARQLWrapperException

from ..io import atomic_path

DEFAULT_ENDPOINT = "https://query.wikidata.org/sparql"
DEFAULT_FILES_URL = "https://commons.wikimedia.org/wiki/Special:FilePath/"
USER_AGENT = ("xrfnb/0.1 (reproducible companion to Bombini et al. 2024; https://github.com/xrfnb/xrfnb) "
              "SPARQLWrapper/2")
COMMONS_PAGE_URL = "https://commons.wikimedia.org/wiki/File:"
UNKNOWN_LICENCE = "unknown (see Commons file page)"
RETRY_STATUS = frozenset({429, 503})

_CONTENT_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
                  "image/tiff": ".tif"}
_SUFFIXES = {".jpeg": ".jpg", ".tiff": ".tif"}
_CHUNK = 8 * 1024  # small, since a dropped connection loses the chunk being read; the rest is resumed

T = TypeVar("T")


class WikidataError(RuntimeError):
    """Wikidata or Commons could not be used; the one-line message says what failed and where."""


class _Transient(Exception):
    """A failure worth another attempt; `retry_after` is the server's requested wait in seconds, if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _Skip(Exception):
    """An item whose image cannot be used; the message is the one-line reason."""


def build_query(limit: int, offset: int) -> str:
    """The SPARQL query for one page of paintings and frescoes with an image, ordered by item."""
    if limit < 1 or offset < 0:
        raise ValueError(f"query page: limit must be >= 1 and offset >= 0, got {limit} and {offset}")
    return f"""SELECT ?item ?itemLabel ?image ?creatorLabel ?inception ?typeLabel ?statusLabel WHERE {{
  VALUES ?type {{ wd:Q3305213 wd:Q134194 }}
  ?item wdt:P31 ?type ;
        wdt:P18 ?image .
  OPTIONAL {{ ?item wdt:P170 ?creator . }}
  OPTIONAL {{ ?item wdt:P571 ?inception . }}
  OPTIONAL {{ ?item wdt:P6216 ?status . }}
  SERVICE wikibase:label {{ bd:serviceParam wikibase:language "en". }}
}}
ORDER BY ?item
LIMIT {limit}
OFFSET {offset}"""


def fetch(out: Path, limit: int, *, endpoint: str = DEFAULT_ENDPOINT, files_url: str = DEFAULT_FILES_URL,
          thumb_width: int = 640, page_size: int = 200, timeout: float = 30.0, retries: int = 5,
          backoff: float = 1.0, user_agent: str = USER_AGENT, cache_dir: Path | None = None,
          sleep: Callable[[float], None] = time.sleep) -> tuple[list[dict], list[dict]]:
    """Download up to `limit` painting and fresco images from Wikidata into `out`.

    Parameters
    ----------
    out : folder for the images (`<id>.<ext>`, partial downloads as `<id>.part`); created if missing.
    limit : number of images wanted (>= 1); paging stops as soon as that many are in `out`.
    endpoint : SPARQL endpoint URL.
    files_url : URL prefix that serves a Commons file by name (Special:FilePath or a mirror of it).
    thumb_width : width in pixels of the thumbnails requested.
    page_size : rows per query page (the query's LIMIT).
    timeout : seconds to wait for a connection or for data, per request.
    retries : attempts per request before giving up on 429, 503, timeouts, dropped connections
        and malformed JSON (>= 1).
    backoff : first wait in seconds between attempts, doubled each time; a `Retry-After` header
        in seconds takes precedence.
    user_agent : User-Agent header of every request (Wikimedia's policy asks for a contact).
    cache_dir : where query pages are cached as JSON; default `out / ".cache"`.
    sleep : how to wait between attempts (injected so tests record the waits instead).

    Returns
    -------
    records : one dict per image, in query order, with `id`, `file` (relative to `out`), `title`,
        `artist`, `date`, `medium`, `licence`, `attribution`, `source`, `url`, `width`, `height`.
    skipped : one `{"id", "reason"}` per item whose image could not be used (missing, unreadable).

    Raises
    ------
    WikidataError : when a request still fails after `retries` attempts, or the endpoint rejects the query.
    """
    if limit < 1 or page_size < 1 or retries < 1:
        raise ValueError(f"fetch: limit, page_size and retries must be >= 1, got {limit}, {page_size}, {retries}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    client = _Client(endpoint=endpoint, files_url=files_url, thumb_width=thumb_width, page_size=page_size,
                     timeout=timeout, retries=retries, backoff=backoff, user_agent=user_agent,
                     cache_dir=Path(cache_dir) if cache_dir is not None else out / ".cache", sleep=sleep)
    records: list[dict] = []
    skipped: list[dict] = []
    for row in client.rows():
        try:
            path, size = client.image(_qid(row), _commons_filename(row), out)
        except _Skip as err:
            skipped.append({"id": _qid(row), "reason": str(err)})
            continue
        records.append(_record(row, path.name, size))
        if len(records) == limit:
            break
    if not records:
        first = f"; the first failure: {skipped[0]['id']}: {skipped[0]['reason']}" if skipped else ""
        raise RuntimeError(f"wikidata: no usable image from {endpoint} and {files_url}{first}")
    return records, skipped


@dataclass(frozen=True)
class _Client:
    """The settings of one `fetch`, and the requests it makes with them."""

    endpoint: str
    files_url: str
    thumb_width: int
    page_size: int
    timeout: float
    retries: int
    backoff: float
    user_agent: str
    cache_dir: Path
    sleep: Callable[[float], None]

    def rows(self) -> Iterator[dict]:
        """Result rows page after page, only the first row of each item; ends after a short page."""
        seen: set[str] = set()
        offset = 0
        while True:
            page = self._page(offset)
            for row in page:
                if _qid(row) not in seen:
                    seen.add(_qid(row))
                    yield row
            if len(page) < self.page_size:
                return
            offset += self.page_size

    def _page(self, offset: int) -> list[dict]:
        """The rows at `offset`: from the cache if this endpoint answered this query before, else asked now."""
        query = build_query(self.page_size, offset)
        cached = self.cache_dir / f"{_cache_key(self.endpoint, query)}.json"
        if cached.exists():
            return json.loads(cached.read_text())["bindings"]
        what = f"SPARQL query to {self.endpoint} at offset {offset}"
        rows = self._retrying(what, lambda: self._query_once(query, what))
        with atomic_path(cached) as tmp:
            tmp.write_text(json.dumps({"endpoint": self.endpoint, "query": query, "bindings": rows}))
        return rows

    def _query_once(self, query: str, what: str) -> list[dict]:
        """One request to the endpoint; _Transient for what may pass, WikidataError for what will not."""
        sparql = SPARQLWrapper(self.endpoint, agent=self.user_agent)
        sparql.setQuery(query)
        sparql.setMethod(GET)
        sparql.setReturnFormat(JSON)
        sparql.timeout = self.timeout  # type: ignore[assignment]  # setTimeout() truncates 0.5 s to 0 = none
        try:
            with sparql.query().response as response:
                body = response.read()
        except HTTPError as err:  # SPARQLWrapper re-raises codes it has no exception class for (429, 503, ...)
            if err.code in RETRY_STATUS:
                raise _Transient(f"HTTP {err.code}", _retry_after(err.headers)) from None
            raise WikidataError(f"{what}: HTTP {err.code} {err.reason}") from None
        except SPARQLWrapperException as err:  # 400, 401, 404, 414, 500: asking again will not help
            raise WikidataError(f"{what}: {str(err).splitlines()[0].strip()}") from None
        except (OSError, HTTPException) as err:  # timeouts, refused or dropped connections, truncated bodies
            raise _Transient(_network_reason(err, self.timeout)) from None
        try:
            return _bindings(body)
        except ValueError as err:
            raise _Transient(f"malformed JSON ({err})") from None

    def image(self, qid: str, filename: str, out: Path) -> tuple[Path, tuple[int, int]]:
        """The verified image of item `qid` in `out`: kept from an earlier run, or downloaded (resumed) now."""
        finished = _finished_image(out, qid)
        if finished is not None:
            return finished
        url = f"{self.files_url.rstrip('/')}/{quote(filename, safe='')}?width={self.thumb_width}"
        part = out / f"{qid}.part"
        content_type = self._retrying(f"download of {url}", lambda: self._download_once(url, part))
        try:
            size = _verified_size(part)
        except ValueError as err:
            part.unlink()
            raise _Skip(f"{err} at {url}") from None
        path = out / f"{qid}{_extension(content_type, filename)}"
        os.replace(part, path)
        return path, size

    def _download_once(self, url: str, part: Path) -> str:
        """Stream `url` into `part`, asking only for the bytes not there yet; return the content type."""
        have = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": self.user_agent}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with requests.get(url, headers=headers, timeout=self.timeout, stream=True) as response:
                _check_download(response, url, part)
                with part.open("ab" if response.status_code == 206 else "wb") as f:
                    for chunk in response.iter_content(_CHUNK):
                        f.write(chunk)
                return response.headers.get("Content-Type", "")
        except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as err:
            raise _Transient(_network_reason(err, self.timeout)) from None

    def _retrying(self, what: str, attempt: Callable[[], T]) -> T:
        """Call `attempt` up to `retries` times, waiting after each transient failure but the last."""
        failures = 0
        while True:
            try:
                return attempt()
            except _Transient as err:
                failures += 1
                if failures == self.retries:
                    raise WikidataError(f"{what}: {err} (gave up after {failures} attempts)") from None
                wait = err.retry_after if err.retry_after is not None else self.backoff * 2 ** (failures - 1)
                self.sleep(wait)


def _check_download(response: requests.Response, url: str, part: Path) -> None:
    """Raise unless `response` carries the file (200) or the rest of it (206)."""
    status = response.status_code
    if status == 404:
        raise _Skip(f"file not found (404) at {url}")
    if status in RETRY_STATUS:
        raise _Transient(f"HTTP {status}", _retry_after(response.headers))
    if status == 416:  # the partial file is as long as the whole one, or the file changed: start again
        part.unlink()
        raise _Transient("HTTP 416 for the rest of a partial download; restarting it")
    if status not in (200, 206):
        raise _Skip(f"HTTP {status} at {url}")


def _bindings(body: bytes) -> list[dict]:
    """The rows of a SPARQL JSON result; ValueError if `body` is not one."""
    data = json.loads(body)  # JSONDecodeError and UnicodeDecodeError are ValueErrors
    rows = data.get("results", {}).get("bindings") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ValueError("no results.bindings list")
    return rows


def _retry_after(headers: Any) -> float | None:
    """The wait a Retry-After header asks for, in seconds; None when absent or in HTTP-date form."""
    value = (headers.get("Retry-After") or "").strip()
    return float(value) if value.isdigit() else None


def _network_reason(err: BaseException, timeout: float) -> str:
    """One line for a failed connection: a timeout, or what else went wrong."""
    cause = getattr(err, "reason", err)  # urllib wraps the socket error in URLError.reason
    if isinstance(err, requests.Timeout) or isinstance(cause, TimeoutError):
        return f"timeout after {timeout:g} s"
    return f"connection error ({err})"


def _cache_key(endpoint: str, query: str) -> str:
    """A file name that changes whenever the endpoint or the query does."""
    return hashlib.sha256(f"{endpoint}\n{query}".encode()).hexdigest()[:24]


def _finished_image(out: Path, qid: str) -> tuple[Path, tuple[int, int]] | None:
    """The image of `qid` an earlier run completed, with its size; a damaged one is removed."""
    for path in out.glob(f"{qid}.*"):
        if path.suffix == ".part":
            continue
        try:
            return path, _verified_size(path)
        except ValueError:
            path.unlink()
    return None


def _verified_size(path: Path) -> tuple[int, int]:
    """(width, height) of a complete image; ValueError naming the problem otherwise.

    `verify()` checks the container (PNG checksums, for one); decoding with `load()` as well catches a
    truncated JPEG, which `verify()` lets through.
    """
    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.load()
            return im.size
    except (OSError, SyntaxError, ValueError) as err:  # unknown format, bad checksum, truncated data
        raise ValueError(f"not a readable image ({err})") from None


def _extension(content_type: str, filename: str) -> str:
    """The image's file suffix: from the response's content type, else from the Commons file name."""
    mime = content_type.split(";")[0].strip().lower()
    suffix = Path(filename).suffix.lower()
    return _CONTENT_TYPES.get(mime) or _SUFFIXES.get(suffix, suffix)


def _value(row: dict, name: str) -> str:
    """The value bound to variable `name` in a result row, or "" when unbound."""
    return row.get(name, {}).get("value", "")


def _qid(row: dict) -> str:
    """The item's Wikidata id (Q...), the last segment of its entity URI."""
    return _value(row, "item").rsplit("/", 1)[-1]


def _commons_filename(row: dict) -> str:
    """The Commons file name of the item's image (P18 values are Special:FilePath URLs, percent-encoded)."""
    return unquote(urlsplit(_value(row, "image")).path.rsplit("/", 1)[-1])


def _year(inception: str) -> str:
    """The year of a Wikidata dateTime ("-0450-01-01T00:00:00Z" -> "-450"); "" if not a date."""
    match = re.match(r"([+-]?)0*(\d+)-", inception)
    if match is None:
        return ""
    return ("-" if match.group(1) == "-" else "") + match.group(2)


def _record(row: dict, file: str, size: tuple[int, int]) -> dict:
    """The seed record of one downloaded image, described by its result row."""
    title = _value(row, "itemLabel")
    artist = _value(row, "creatorLabel") or "unknown"
    return {"id": _qid(row), "file": file, "title": title, "artist": artist,
            "date": _year(_value(row, "inception")), "medium": _value(row, "typeLabel"),
            "licence": _value(row, "statusLabel") or UNKNOWN_LICENCE,
            "attribution": f"{artist}, {title}, via Wikimedia Commons", "source": "wikidata",
            "url": COMMONS_PAGE_URL + quote(_commons_filename(row).replace(" ", "_")),
            "width": size[0], "height": size[1]}
