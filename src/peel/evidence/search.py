"""A case's full-text search: Tantivy (BM25) under `evidence/<case>/index/`.

Queries: words (stemmed, English), "phrases", AND / OR / NOT (also + and -), parentheses,
and fuzzy words written `word~` (one edit) or `word~2`; words next to each other must all
match (conjunction, what a reviewer narrowing a search expects). Filters, given apart from
the query: participant (a sender, recipient or conversation, exactly as the material writes
it, any case), time from/until, item kinds.

The boolean structure is parsed here and each word or phrase is handed to Tantivy's own
parser (which applies the index's analyser): Tantivy's query language has no per-word fuzzy
syntax (`~` there is a phrase's slop), and fuzziness must apply to the words the reviewer
marked, not to every word. The grammar is small and bounded (length, words, nesting), and
a query that does not parse is refused with what is wrong, never guessed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import tantivy

from peel.errors import InputRefused
from peel.evidence.items import Item

MAX_QUERY = 1_000
MAX_WORDS = 64
MAX_DEPTH = 16
FIELDS = ["text", "subject"]
_TOKEN = re.compile(r'\s*(?:(\()|(\))|("[^"]*")|([+-])|([^\s()"]+))')


class SearchError(InputRefused):
    """A query that cannot be run, with what is wrong with it."""


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("id", stored=True, indexed=True, fast=True)
    sb.add_text_field("text", stored=False, tokenizer_name="en_stem")
    sb.add_text_field("subject", stored=False, tokenizer_name="en_stem")
    sb.add_text_field("who", stored=False, tokenizer_name="raw")
    sb.add_text_field("kind", stored=False, tokenizer_name="raw")
    sb.add_date_field("at", stored=False, indexed=True, fast=True)
    return sb.build()


def participants(item: Item) -> list[str]:
    out = {p.strip().lower() for p in (item.sender or "", *item.recipients, item.conversation)}
    return sorted(p for p in out if p)


@dataclass(frozen=True)
class Hits:
    count: int
    hits: list[tuple[int, float]]  # (item id, BM25 score), best first


@dataclass(frozen=True)
class Snippet:
    """A piece of an item's text around what matched: (text, matched?) segments."""

    segments: list[tuple[str, bool]]


class CaseIndex:
    def __init__(self, root: Path) -> None:
        self.path = root / "index"
        self.path.mkdir(parents=True, exist_ok=True)
        self.schema = _schema()
        self.index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        self._lock = threading.Lock()

    def add(self, items: Iterable[tuple[int, Item]]) -> int:
        """Index items (id, item); one commit. Returns how many."""
        n = 0
        with self._lock:
            writer = self.index.writer(heap_size=64_000_000, num_threads=1)
            for iid, item in items:
                doc = tantivy.Document(
                    id=iid,
                    text=item.text,
                    subject=item.subject,
                    who=participants(item),
                    kind=item.kind,
                )
                if item.sent_at is not None:
                    at = item.sent_at
                    doc.add_date("at", at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC))
                writer.add_document(doc)
                n += 1
            writer.commit()
            writer.wait_merging_threads()
        self.index.reload()
        return n

    def delete(self, ids: Iterable[int]) -> None:
        """Items removed from the index (a batch that was never recorded)."""
        with self._lock:
            writer = self.index.writer(heap_size=64_000_000, num_threads=1)
            for iid in ids:
                writer.delete_documents_by_term("id", int(iid))
            writer.commit()
            writer.wait_merging_threads()
        self.index.reload()

    # -- queries -------------------------------------------------------------------------------
    def parse(self, query: str) -> tantivy.Query:
        return _Parser(self.index, query).parse()

    def query(
        self,
        terms: str,
        *,
        participant: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Sequence[str] = (),
    ) -> tantivy.Query:
        parts: list[tuple[tantivy.Occur, tantivy.Query]] = []
        if terms.strip():
            parts.append((tantivy.Occur.Must, self.parse(terms)))
        if participant:
            parts.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.term_query(self.schema, "who", participant.strip().lower()),
                )
            )
        if since is not None or until is not None:
            lo = _utc(since) if since is not None else tantivy.MIN_DATETIME
            hi = _utc(until) if until is not None else tantivy.MAX_DATETIME
            parts.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.range_query(
                        self.schema, "at", tantivy.FieldType.Date, lo, hi, include_upper=False
                    ),
                )
            )
        if kinds:
            parts.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.boolean_query(
                        [
                            (
                                tantivy.Occur.Should,
                                tantivy.Query.term_query(self.schema, "kind", k),
                            )
                            for k in kinds
                        ]
                    ),
                )
            )
        if not parts:
            raise SearchError("give search terms or at least one filter")
        if len(parts) == 1 and parts[0][0] == tantivy.Occur.Must:
            return parts[0][1]
        return tantivy.Query.boolean_query(parts)

    def search(self, q: tantivy.Query, *, limit: int, offset: int = 0) -> Hits:
        searcher = self.index.searcher()
        res = searcher.search(q, limit=max(limit, 0) or 1, count=True, offset=offset)
        hits = (
            [(int(searcher.doc(addr)["id"][0]), float(score)) for score, addr in res.hits]
            if limit > 0
            else []
        )
        # `count` is in tantivy's SearchResult but not in its type stubs.
        count = getattr(res, "count", None)
        return Hits(int(count or 0), hits)

    def snippet(self, q: tantivy.Query, text: str, *, chars: int = 160) -> Snippet:
        gen = tantivy.SnippetGenerator.create(self.index.searcher(), q, self.schema, "text")
        gen.set_max_num_chars(chars)
        snip = gen.snippet_from_doc(tantivy.Document(text=text))
        frag = snip.fragment()
        segments: list[tuple[str, bool]] = []
        at = 0
        for r in snip.highlighted():
            if r.start > at:
                segments.append((frag[at : r.start], False))
            segments.append((frag[r.start : r.end], True))
            at = r.end
        if at < len(frag):
            segments.append((frag[at:], False))
        if not segments:
            segments = [(text[:chars], False)]
        return Snippet(segments)


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


class _Parser:
    """or := and (OR and)* ; and := unary ([AND] unary)* ; unary := (NOT|-) unary | + unary
    | '(' or ')' | "phrase" | word[~[n]]"""

    def __init__(self, index: tantivy.Index, text: str) -> None:
        if len(text) > MAX_QUERY:
            raise SearchError(f"the query is longer than {MAX_QUERY:,} characters")
        self.index = index
        self.tokens = self._lex(text)
        self.at = 0
        self.words = 0

    @staticmethod
    def _lex(text: str) -> list[str]:
        out: list[str] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                if text[pos:].lstrip().startswith('"'):
                    raise SearchError("a phrase is not closed: add the closing quote")
                raise SearchError(f"cannot read the query at character {pos + 1}")
            out.append(m.group(0).strip())
            pos = m.end()
        return out

    def parse(self) -> tantivy.Query:
        if not self.tokens:
            raise SearchError("the query is empty")
        q = self._or(0)
        if self.at < len(self.tokens):
            raise SearchError(f"unexpected {self.tokens[self.at]!r} in the query")
        return q

    def _peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _or(self, depth: int) -> tantivy.Query:
        if depth > MAX_DEPTH:
            raise SearchError(f"the query nests deeper than {MAX_DEPTH} levels")
        parts = [self._and(depth)]
        while self._peek() == "OR":
            self.at += 1
            parts.append(self._and(depth))
        if len(parts) == 1:
            return parts[0]
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, p) for p in parts])

    def _and(self, depth: int) -> tantivy.Query:
        must: list[tantivy.Query] = []
        must_not: list[tantivy.Query] = []
        while True:
            tok = self._peek()
            if tok is None or tok in ("OR", ")"):
                break
            if tok == "AND":
                self.at += 1
                continue
            negated, q = self._unary(depth)
            (must_not if negated else must).append(q)
        if not must and not must_not:
            raise SearchError("an operator has nothing on one side")
        if len(must) == 1 and not must_not:
            return must[0]
        clauses = [(tantivy.Occur.Must, q) for q in must]
        if not must:  # only exclusions: everything else
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        clauses += [(tantivy.Occur.MustNot, q) for q in must_not]
        return tantivy.Query.boolean_query(clauses)

    def _unary(self, depth: int) -> tuple[bool, tantivy.Query]:
        tok = self._peek()
        if tok in ("NOT", "-"):
            self.at += 1
            neg, q = self._unary(depth + 1)
            return (not neg), q
        if tok == "+":
            self.at += 1
            return self._unary(depth + 1)
        return False, self._primary(depth)

    def _primary(self, depth: int) -> tantivy.Query:
        tok = self._peek()
        if tok is None:
            raise SearchError("the query ends where a word was expected")
        self.at += 1
        if tok == "(":
            q = self._or(depth + 1)
            if self._peek() != ")":
                raise SearchError("a bracket is not closed")
            self.at += 1
            return q
        if tok == ")":
            raise SearchError("a closing bracket without an opening one")
        self.words += 1
        if self.words > MAX_WORDS:
            raise SearchError(f"the query has more than {MAX_WORDS} words or phrases")
        if tok.startswith('"'):
            inner = re.sub(r"[^\w\s'-]", " ", tok.strip('"'), flags=re.UNICODE).strip()
            if not inner:
                raise SearchError("an empty phrase")
            return self._leaf(f'"{inner}"', fuzzy=0)
        fuzzy = 0
        if "~" in tok:
            word, _, n = tok.partition("~")
            fuzzy = int(n) if n.isdigit() else 1
            if fuzzy > 2:
                raise SearchError(f"{tok!r}: a fuzzy word allows at most 2 edits (~2)")
            fuzzy = max(fuzzy, 1)
            tok = word
        word = re.sub(r"[^\w'-]", " ", tok, flags=re.UNICODE).strip()
        if not word:
            raise SearchError(f"{tok!r} has no letters or digits to search for")
        return self._leaf(word, fuzzy=fuzzy)

    def _leaf(self, text: str, *, fuzzy: int) -> tantivy.Query:
        # Words joined by punctuation (an e-mail address, "o'clock") become a phrase.
        if not text.startswith('"') and len(text.split()) > 1:
            text = f'"{text}"'
        fuzzy_fields = {f: (False, fuzzy, True) for f in FIELDS} if fuzzy else None
        try:
            q, errors = self.index.parse_query_lenient(text, FIELDS, fuzzy_fields=fuzzy_fields)
        except ValueError as e:
            raise SearchError(f"cannot search for {text!r}: {e}") from e
        if errors:
            raise SearchError(f"cannot search for {text!r}")
        return q


__all__ = ["CaseIndex", "Hits", "SearchError", "Snippet", "participants"]
