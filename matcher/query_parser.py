"""The Scopus-style boolean query language of the Aurora SDG queries: parser, AST and evaluator.

Grammar (Scopus precedence, tightest first: OR, then W/n and PRE/n, then AND, then AND NOT; left to right):

    expr   := andx (("AND NOT" | "NOT") andx)*
    andx   := near (("AND" | <juxtaposition>) near)*
    near   := orx (("W/n" | "PRE/n") orx)*
    orx    := atom ("OR" atom)*
    atom   := "quoted phrase" | bare_word | "(" expr ")" | FIELD "(" expr ")"

Field prefixes (TITLE-ABS-KEY, TITLE, ABS, KEY, AUTHKEY …) are accepted and ignored: a text has one field.
Inside a phrase, ``*`` at the end of a word is truncation (prefix match); ``*``/``?`` inside a word are
wildcards (any run of letters / one letter).

Evaluation works on *word positions* (punctuation is not a word): ``W/n`` = at most n words between the
two operands, either order; ``PRE/n`` = the same with the left operand first; ``AND`` = both anywhere in
the text; ``OR`` = either. Each result carries the phrase hits that made it true (the evidence).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterator, Union

# A phrase hit: (phrase key, first word index, end word index exclusive)
PhraseHit = tuple[str, int, int]


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; ``pos`` is the character offset of the offending token."""

    def __init__(self, message: str, query: str, pos: int):
        super().__init__(f"{message} at character {pos}: {query[max(0, pos - 20):pos + 20]!r}")
        self.query, self.pos = query, pos


@dataclass(frozen=True)
class Phrase:
    """A quoted (or bare) term; ``text`` as written, without the quotes; ``key`` its normalised identity."""

    text: str
    key: str = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        # shared by all queries that use the phrase; computed once because evaluation reads it per text
        object.__setattr__(self, "key", " ".join(self.text.lower().split()))


@dataclass(frozen=True)
class Or:
    """True when any child is; matches = all children's matches."""

    children: tuple["Node", ...]


@dataclass(frozen=True)
class And:
    """True when every child is, anywhere in the text."""

    children: tuple["Node", ...]


@dataclass(frozen=True)
class AndNot:
    """True when ``left`` is and ``right`` is not."""

    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Near:
    """``W/n`` (ordered=False) or ``PRE/n`` (ordered=True): at most ``n`` words between the operands."""

    left: "Node"
    right: "Node"
    n: int
    ordered: bool = False


Node = Union[Phrase, Or, And, AndNot, Near]

_TOKEN = re.compile(
    r'\s*(?:(?P<phrase>"[^"]*")|(?P<lp>\()|(?P<rp>\))'
    r"|(?P<near>(?:W|PRE)/\d+)(?![\w/])"
    r"|(?P<andnot>AND\s+NOT)(?!\w)|(?P<and>AND)(?!\w)|(?P<or>OR)(?!\w)|(?P<not>NOT)(?!\w)"
    r"|(?P<field>(?-i:[A-Z][A-Z0-9-]*))\s*(?=\()"
    r"|(?P<word>[^\s()\"]+))",
    re.IGNORECASE,
)


def _lex(query: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        pos += len(query[pos:]) - len(query[pos:].lstrip())  # errors point at the token, not the space
        m = _TOKEN.match(query, pos)
        if not m or m.end() == pos:
            raise QuerySyntaxError("unterminated quote or unexpected character", query, pos)
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, query: str):
        self.query, self.toks, self.i = query, _lex(query), 0

    def peek(self) -> str | None:
        return self.toks[self.i][0] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, message: str):
        pos = self.toks[self.i][2] if self.i < len(self.toks) else len(self.query)
        raise QuerySyntaxError(message, self.query, pos)

    def parse(self) -> Node:
        if not self.toks:
            self.fail("empty query")
        node = self.expr()
        if self.peek() is not None:
            self.fail(f"unexpected {self.toks[self.i][1]!r}")
        return node

    def expr(self) -> Node:
        node = self.andx()
        while self.peek() in ("andnot", "not"):
            self.take()
            node = AndNot(node, self.andx())
        return node

    def andx(self) -> Node:
        parts = [self.near()]
        while self.peek() in ("and", "phrase", "word", "lp", "field"):
            if self.peek() == "and":
                self.take()
            parts.append(self.near())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def near(self) -> Node:
        node = self.orx()
        while self.peek() == "near":
            op = self.take()[1].upper()
            name, n = op.split("/")
            node = Near(node, self.orx(), int(n), ordered=(name == "PRE"))
        return node

    def orx(self) -> Node:
        parts = [self.atom()]
        while self.peek() == "or":
            self.take()
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def atom(self) -> Node:
        kind = self.peek()
        if kind == "phrase":
            text = self.take()[1][1:-1].strip()
            if not text.replace("*", "").replace("?", "").strip():
                self.i -= 1
                self.fail("empty phrase")
            return Phrase(text)
        if kind == "word":
            return Phrase(self.take()[1])
        if kind == "field":
            self.take()
            kind = self.peek()
        if kind == "lp":
            self.take()
            node = self.expr()
            if self.peek() != "rp":
                self.fail("missing ')'")
            self.take()
            return node
        self.fail("expected a phrase or '('")


def parse_query(query: str) -> Node:
    """Parse one query line into an AST; raises QuerySyntaxError naming the character offset."""
    return _Parser(query).parse()


def to_query(node: Node) -> str:
    """Canonical, fully parenthesised query text of an AST (``parse_query(to_query(n)) == n``)."""
    if isinstance(node, Phrase):
        return f'"{node.text}"'
    if isinstance(node, (Or, And)):
        op = " OR " if isinstance(node, Or) else " AND "
        return "(" + op.join(to_query(c) for c in node.children) + ")"
    if isinstance(node, AndNot):
        return f"({to_query(node.left)} AND NOT {to_query(node.right)})"
    return f"({to_query(node.left)} {'PRE' if node.ordered else 'W'}/{node.n} {to_query(node.right)})"


def phrases(node: Node) -> Iterator[Phrase]:
    """Every phrase of a query, left to right (with repeats)."""
    if isinstance(node, Phrase):
        yield node
    elif isinstance(node, (Or, And)):
        for c in node.children:
            yield from phrases(c)
    else:
        yield from phrases(node.left)
        yield from phrases(node.right)


def positive_keys(node: Node) -> frozenset[str]:
    """Phrase keys of which at least one must hit for the query to be true (NOT branches excluded)."""
    if isinstance(node, AndNot):
        return positive_keys(node.left)
    return frozenset(p.key for p in phrases(node))


# Evaluation -------------------------------------------------------------------------------------------
# A match: (first word, end word exclusive, phrase hits that support it)
Match = tuple[int, int, tuple[PhraseHit, ...]]
MAX_MATCHES = 64  # proximity pairs kept per node; a recommendation never needs more, a report page might


def evaluate(node: Node, hits: dict[str, list[tuple[int, int]]]) -> list[Match]:
    """Matches of ``node`` given the positions of each phrase key in one text; empty list = false."""
    return compile_query(node)(phrase_matches(hits))


def phrase_matches(hits: dict[str, list[tuple[int, int]]]) -> dict[str, list[Match]]:
    """The matches of each phrase key from its positions, built once per text and shared by every query."""
    return {k: [(s, e, ((k, s, e),)) for s, e in pos] for k, pos in hits.items() if pos}


def required_keysets(node: Node) -> list[frozenset[str]]:
    """Key sets that must each have a hit for the query to be true (a cheap pre-check before evaluating)."""
    if isinstance(node, (And, Near)):
        parts = node.children if isinstance(node, And) else (node.left, node.right)
        return [ks for c in parts for ks in required_keysets(c)]
    if isinstance(node, AndNot):
        return required_keysets(node.left)
    return [frozenset(p.key for p in phrases(node))]


Evaluator = Callable[[dict[str, list[Match]]], list[Match]]


def compile_query(node: Node) -> Evaluator:
    """A function of the phrase matches of one text (``phrase_matches``) that returns the matches of ``node``
    (closures: no dispatch).  The lists it is given are shared by every query: never changed here."""
    if isinstance(node, Phrase):
        k = node.key

        def phrase(hits):
            return hits.get(k) or []
        return phrase
    if isinstance(node, Or) and all(isinstance(c, Phrase) for c in node.children):
        keys = [c.key for c in node.children]  # the common case: a list of alternative phrases

        def or_phrases(hits):
            out: list[Match] = []
            for k in keys:
                m = hits.get(k)
                if m:
                    out.extend(m)
            return out
        return or_phrases
    if isinstance(node, Or):
        subs = [compile_query(c) for c in node.children]

        def or_(hits):
            out: list[Match] = []
            for f in subs:
                out.extend(f(hits))
            return out
        return or_
    if isinstance(node, And):
        subs = [compile_query(c) for c in node.children]

        def and_(hits):
            parts = []
            for f in subs:
                m = f(hits)
                if not m:
                    return []
                parts.extend(m)
            # positions of an AND are its whole extent; evidence = every supporting hit, once
            ev = tuple(dict.fromkeys(h for m in parts for h in m[2]))
            return [(min(m[0] for m in parts), max(m[1] for m in parts), ev)]
        return and_
    if isinstance(node, AndNot):
        left, right = compile_query(node.left), compile_query(node.right)

        def and_not(hits):
            m = left(hits)
            return m if m and not right(hits) else []
        return and_not
    left, right, n, ordered = compile_query(node.left), compile_query(node.right), node.n, node.ordered

    def near(hits):
        lm = left(hits)
        if not lm:
            return []
        rm = right(hits)
        out = []
        for ls, le, lh in lm:
            for rs, re_, rh in rm:
                if rs >= le:
                    gap = rs - le
                elif ordered:
                    continue
                elif ls >= re_:
                    gap = ls - re_
                else:
                    gap = 0  # overlapping operands
                if gap <= n:
                    out.append((min(ls, rs), max(le, re_), tuple(dict.fromkeys(lh + rh))))
                    if len(out) >= MAX_MATCHES:
                        return out
        return out
    return near
