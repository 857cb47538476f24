"""int8 against fp32: routing accuracy of the two ONNX MiniLM files on the blind
sets, and the verdict of `sets/INT8_RULE.md` (issue 21, item 2).

Each set (by default 4 to 12) is routed among its own plugins as `score` routes
it (`blind.py`), in two kinds: with examples (aliases, examples and near misses;
the router as it serves) and aliases only. Both embedders are the serving one,
all-MiniLM-L6-v2 exported to ONNX (`python -m zoozl model export --variant
fp32|int8`, into the model cache), each behind a cache so every text is encoded
once per embedder. It prints per set and pooled, for each kind, right / messages
and accuracy of each, and int8 - fp32 in points; then the verdict: int8 passes
when, in both kinds, it loses at most 0.5 points pooled and at most 1 point on
any set. Only with all of sets 4 to 12 scored is a verdict given.

    python -m eval.routing int8              # sets 4 to 12, the verdict
    python -m eval.routing int8 --set 9      # some sets: figures, no verdict

`--candidate mixed` judges the other candidate, `minilm-mixed` (int8 but for the
feed-forward output projections), under `sets/INT8_MIXED_RULE.md`: the same
allowances, on sets 4 to 15. The candidate's figures are printed in the column
headed by its name; the tallies call it "int8" either way.

`--candidate drafted` judges fp32 with int8 as the router's draft
(zoozl.embedding.drafted, the serving `minilm`), with the draft's distances
as `zoozl.routing.router` sets them: first under `sets/DRAFT_RULE.md` (sets 4
to 18, the unread 16 to 18 pooled as well), now under
`sets/DRAFT_LOOSER_RULE.md`: the same allowances on sets 4 to 30, and pooled
over the unread sets 28 to 30.

`--candidate rows` judges `minilm-rows` (int8 scaled per token:
zoozl.embedding.rows) alone and `--candidate drafted-rows` fp32 with rows as
the draft, under `sets/ROWS_RULE.md`: the same allowances on sets 4 to 33, and
pooled over the unread sets 31 to 33.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from eval.routing.blind import blind_router, routed_keys
from eval.routing.catalog import NUMBERED_SETS, PluginSet, load_rows
from zoozl.config import default_model_cache_dir
from zoozl.embedding.base import CachedEmbedder, Embedder

#: The kinds judged: (name, with examples and near misses).
KINDS = (("with examples", True), ("aliases only", False))
#: The ONNX variants compared: the reference first.
VARIANTS = ("fp32", "int8")
#: Every set the rule needs before it gives a verdict (INT8_RULE.md: 4 to 12).
REQUIRED_SETS = tuple(range(4, 13))
#: ROWS_RULE.md's sets, for both its candidates (rows alone, and as the draft).
ROWS_SETS = tuple(range(4, 34))
#: The candidates judged against fp32: the ONNX variant and the sets its rule
#: needs (INT8_RULE.md for int8, INT8_MIXED_RULE.md for mixed).
CANDIDATES = {
    "int8": REQUIRED_SETS,
    "mixed": tuple(range(4, 16)),
    "drafted": tuple(range(4, 31)),
    "rows": ROWS_SETS,
    "drafted-rows": ROWS_SETS,
}
#: Pools of sets a candidate must also keep within the pooled allowance: the
#: sets unread when its rule was committed (DRAFT_LOOSER_RULE.md, ROWS_RULE.md;
#: DRAFT_RULE.md's were 16 to 18).
ROWS_UNREAD = {"sets 31 to 33": (31, 32, 33)}
EXTRA_POOLS = {
    "drafted": {"sets 28 to 30": (28, 29, 30)},
    "rows": ROWS_UNREAD,
    "drafted-rows": ROWS_UNREAD,
}
#: Most points int8 may lose, pooled and on any one set.
POOLED_ALLOWANCE = Fraction(1, 2)
SET_ALLOWANCE = Fraction(1)


@dataclass
class SetScore:
    """Messages right of one set, by (kind, variant)."""

    number: int
    messages: int
    right: dict[tuple[str, str], int] = field(default_factory=dict)

    def loss(self, kind: str) -> Fraction:
        """Points int8 loses against fp32 (negative: it gains)."""
        return points(
            self.right[kind, "fp32"] - self.right[kind, "int8"], self.messages
        )


@dataclass(frozen=True)
class Verdict:
    """The rule's verdict: passed (None: not given), why, and the sets missing."""

    passed: bool | None
    reasons: tuple[str, ...] = ()
    missing: tuple[int, ...] = ()

    def line(self, candidate: str = "int8") -> str:
        """The verdict as printed."""
        if self.passed is None:
            sets = ", ".join(str(n) for n in self.missing)
            every = CANDIDATES[candidate]
            return (
                f"no verdict: set(s) {sets} not scored "
                f"(the rule needs all of {every[0]} to {every[-1]})"
            )
        if self.passed:
            return (
                f"VERDICT: {candidate} PASSES: in both kinds within 0.5 points pooled "
                "and no set more than 1 point below fp32"
            )
        return f"VERDICT: {candidate} FAILS: " + "; ".join(self.reasons)


def points(difference: int, messages: int) -> Fraction:
    """A difference of messages right as points of accuracy (hundredths), exactly."""
    return Fraction(100 * difference, messages)


def pooled(scores: Sequence[SetScore]) -> SetScore:
    """The sets' counts summed (number 0)."""
    total = SetScore(0, sum(s.messages for s in scores))
    for score in scores:
        for key, right in score.right.items():
            total.right[key] = total.right.get(key, 0) + right
    return total


def verdict(
    scores: Sequence[SetScore],
    required: Sequence[int] = REQUIRED_SETS,
    pools: Mapping[str, Sequence[int]] | None = None,
) -> Verdict:
    """INT8_RULE.md's verdict on the sets' scores (none if any set is missing);
    pools are named groups of sets held to the pooled allowance too."""
    scored = {
        s.number
        for s in scores
        if all((k, v) in s.right for k, _ in KINDS for v in VARIANTS)
    }
    missing = tuple(n for n in required if n not in scored)
    if missing:
        return Verdict(None, missing=missing)
    chosen = [s for s in scores if s.number in required]
    reasons = []
    groups = {"pooled": chosen}
    for name, numbers in (pools or {}).items():
        groups[f"pooled over {name}"] = [s for s in chosen if s.number in numbers]
    for kind, _ in KINDS:
        for name, group in groups.items():
            loss = pooled(group).loss(kind)
            if loss > POOLED_ALLOWANCE:
                reasons.append(
                    f"{kind}: {name} {float(loss):.2f} points below fp32 "
                    f"(0.5 allowed, {float(loss - POOLED_ALLOWANCE):.2f} over)"
                )
        for score in chosen:
            lost = score.loss(kind)
            if lost > SET_ALLOWANCE:
                reasons.append(
                    f"{kind}: set {score.number} {float(lost):.2f} points below fp32 "
                    f"(1 allowed, {float(lost - SET_ALLOWANCE):.2f} over)"
                )
    return Verdict(not reasons, tuple(reasons))


def score_set(
    found: PluginSet, number: int, embedders: Mapping[str, Embedder]
) -> SetScore:
    """Messages right of one set, in each kind, on each embedder."""
    rows = load_rows(found.messages)
    result = SetScore(number, len(rows))
    for variant, embedder in embedders.items():
        for kind, examples in KINDS:
            router = blind_router(found.plugins, embedder, examples)
            got = routed_keys(router, rows)
            right = sum(g == row["label"] for g, row in zip(got, rows, strict=True))
            result.right[kind, variant] = right
    return result


def table(name: str, score: SetScore) -> list[str]:
    """One set's (or the pool's) lines: each kind, fp32 and int8 and the difference."""
    lines = []
    for kind, _ in KINDS:
        cells = []
        for variant in VARIANTS:
            right = score.right[kind, variant]
            cells.append(f"{right:4d}/{score.messages} = {right / score.messages:.4f}")
        change = float(-score.loss(kind))
        lines.append(
            f"{name:9s} {kind:14s} {cells[0]:>18s}  {cells[1]:>18s}  {change:+6.2f}"
        )
    return lines


def header(candidate: str = "int8") -> str:
    """The column heads of `table`."""
    return f"{'set':9s} {'kind':14s} {'fp32':>18s}  {candidate:>18s}  {'points':>6s}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `int8` command's options."""
    parser.add_argument(
        "--set",
        type=int,
        action="append",
        choices=sorted({n for sets in CANDIDATES.values() for n in sets}),
        help="a set by number (repeatable; default: every set of the rule, and "
        "the verdict)",
    )
    parser.add_argument(
        "--candidate",
        choices=sorted(CANDIDATES),
        default="int8",
        help="the ONNX variant judged against fp32 (default int8)",
    )


def embedders(candidate: str = "int8") -> dict[str, Embedder]:
    """fp32 and the candidate ONNX MiniLM from the model cache (exported when
    missing), loaded, each behind its own cache, keyed "fp32" and "int8"; their
    files are printed."""
    from zoozl.embedding.onnx import OnnxMiniLMEmbedder

    found: dict[str, Embedder] = {}
    if candidate.startswith("drafted"):  # fp32 with int8 (or rows) as the draft
        from zoozl.embedding.drafted import Drafted

        fp32, draft = embedders(candidate.partition("-")[2] or "int8").values()
        return {"fp32": fp32, "int8": Drafted(fp32, draft)}
    for key, variant in zip(VARIANTS, ("fp32", candidate), strict=True):
        onnx = OnnxMiniLMEmbedder(default_model_cache_dir(), variant)
        onnx.load()
        print(f"{variant}: {onnx.path}")
        found[key] = CachedEmbedder(onnx, maxsize=100_000)
    return found


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The `int8` command."""
    required = CANDIDATES[args.candidate]
    if args.set and not set(args.set) <= set(required):
        parser.error(f"--candidate {args.candidate} scores sets {required}")
    numbers = sorted(set(args.set or required))
    found = embedders(args.candidate)
    print(header(args.candidate), flush=True)
    scores = []
    for number in numbers:
        try:
            score = score_set(NUMBERED_SETS[number], number, found)
        except (OSError, ValueError) as exc:  # a set that does not load is missing
            print(f"blind{number}: cannot be scored: {exc}", flush=True)
            continue
        scores.append(score)
        print("\n".join(table(f"blind{number}", score)), flush=True)
    print("\n".join(table("pooled", pooled(scores))))
    pools = EXTRA_POOLS.get(args.candidate, {})
    for name, numbers in pools.items():
        group = [s for s in scores if s.number in numbers]
        if group:  # none when only other sets were asked for
            label = name.replace("sets ", "").replace(" to ", "-")
            print("\n".join(table(label, pooled(group))))
    print(verdict(scores, required, pools).line(args.candidate))
