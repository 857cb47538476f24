"""The comparison table: ratios against the targets, PASS/FAIL, on synthetic numbers."""

from __future__ import annotations

import math

from benchmarks import report, results, servers
from benchmarks.results import ROOT

OLD = {
    "unique20.rate": 100.0,
    "twenty.rate": 200.0,
    "one.p50": 4.0,
    "unique.p50": 5.0,
    "twenty.cpu": 2.4,
    "rss": 60.0,
    "startup": 0.8,
}
NEW = {
    "unique20.rate": 150.0,  # 1.5x: fail
    "unique.cpu": 1.7,
    "unique20.cpu": 1.9,  # the worse of the two: fail
    "twenty.rate": 500.0,  # 2.5x: pass
    "one.p50": 5.0,  # 1.25x: fail
    "unique.p50": 5.0,  # 1.0x: pass (at the limit)
    "twenty.cpu": 0.8,  # pass
    "flat.conversation": 1.2,  # fail
    "flat.uptime": 0.95,  # pass
    "rss": 300.0,  # fail
    "startup": 1.5,  # pass
    "scaled.cpu": 2.9,  # pass
    "scaled.unique.cpu": 4.6,  # fail
    "scaled.rss": 590.0,  # pass
    "scaled.rate": 250.0,  # 1.25x the old 20 sessions: fail
    "scaleout.1": 40.0,
    "scaleout.2": 78.0,  # 1.95x: pass
}


def verdicts(old: dict[str, float], new: dict[str, float]) -> dict[str, str]:
    return {t.label: t.verdict(old, new) for t in report.TARGETS}


def test_each_target_is_a_ratio_or_figure_checked_against_its_limit() -> None:
    found = verdicts(OLD, NEW)
    assert list(found.values()) == [
        "FAIL",  # every text new, 20 sessions
        "PASS",  # every text new, 1 session, p50
        "FAIL",  # CPU per new-text message: the worse of 1 and 20 sessions
        "PASS",
        "FAIL",
        "PASS",
        "FAIL",
        "PASS",
        "FAIL",
        "PASS",
        "PASS",  # scaled CPU, texts seen before
        "FAIL",  # scaled CPU, every text new
        "PASS",  # scaled memory
        "FAIL",
        "PASS",
    ]
    assert report.TARGETS[2].value(OLD, NEW) == 1.9
    twenty = report.TARGETS[3]
    assert twenty.value(OLD, NEW) == 2.5
    assert twenty.measured(OLD, NEW) == "2.50\u00d7"
    assert twenty.wanted() == "\u2265 2.00\u00d7"


def test_a_missing_figure_is_not_applicable_not_a_pass() -> None:
    found = verdicts({}, {"rss": 100.0})
    assert found["resident memory after the load"] == "PASS"
    assert found["20 sessions: msg/s, new \u00f7 old"] == "n/a"
    assert math.isnan(report.ratio(1.0, 0.0))


def test_tables_show_every_target_and_both_servers() -> None:
    table = report.targets_table(OLD, NEW)
    assert (
        "| 20 sessions: msg/s, new \u00f7 old | 2.50\u00d7 | \u2265 2.00\u00d7 | PASS |"
        in (table)
    )
    assert "| resident memory after the load | 300 MB | \u2264 250 MB | FAIL |" in table
    assert table.count("\n") == len(report.TARGETS) + 1
    figures = report.figures_table(OLD, NEW)
    assert "| 20 sessions: msg/s | 200 | 500 |" in figures
    assert "| scaled, 20 sessions: msg/s | \u2014 | 250 |" in figures
    assert "| scale-out, 20 ms plugin: msg/s, 1 / 2 workers | \u2014 | 40 / 78 |" in (
        figures
    )


def test_results_md_names_machine_command_commit_and_holds_both_tables(
    tmp_path,
) -> None:
    path = tmp_path / "RESULTS.md"
    results.write(path, OLD, NEW, (1.0, 0.5, 0.25), "one 30")
    text = path.read_text(encoding="utf-8")
    for needle in ("- date: ", "- command: `", "- git commit: ", "cores, Linux"):
        assert needle in text
    assert "load average when the run began: 1.00 0.50 0.25" in text
    assert report.targets_table(OLD, NEW) in text
    assert report.figures_table(OLD, NEW) in text
    # Scaled mode runs the Procfile's worker as shipped, and says how many threads.
    worker = next(
        line
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("worker:")
    )
    threads = worker.split("--concurrency ")[1].split()[0]
    assert servers.procfile_concurrency() == threads
    assert f"`--concurrency\n  {threads}`, as the Procfile" in text


def test_rewriting_results_md_keeps_the_sections_of_other_benchmarks(
    tmp_path,
) -> None:
    path = tmp_path / "RESULTS.md"
    section = "\n## Across machines: scale-out\n\n| a | b |\n"
    path.write_text("# old run\n\nold figures\n" + section, encoding="utf-8")
    results.write(path, OLD, NEW, (1.0, 0.5, 0.25), "one 30")
    text = path.read_text(encoding="utf-8")
    assert "old figures" not in text
    assert text.endswith(section)
    assert report.targets_table(OLD, NEW) in text


def test_the_machine_line_names_the_vector_units_the_model_runs_on() -> None:
    avx2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
    vnni = "flags\t: avx2 avx512f avx512bw avx512_vnni\nflags\t: avx2\n"
    vector_units = results.vector_units
    assert vector_units(avx2) == "avx2"
    assert vector_units(vnni) == "avx2, avx512f, avx512_vnni"
    assert vector_units("flags\t: sse2\n").startswith("none of avx2")
    assert vector_units("") == "unknown"
