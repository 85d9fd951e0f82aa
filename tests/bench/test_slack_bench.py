"""`lessons bench slack` at a tiny size: every phase runs and every mention sent is answered.

Real processes and real HTTP both ways (the Slack side is a child process); no timing is
asserted, only the shape of the report and that nothing was lost.
"""

from __future__ import annotations

from bench import slack as bench


async def test_the_slack_benchmark_answers_every_mention_it_acks() -> None:
    report = await bench.run_async(seconds=1.0, concurrency=2, rate=20, grace=15)

    assert set(report["paths"]) == {"bot", "bare_aiohttp", "bolt_ack_only"}
    bot = report["paths"]["bot"]
    for mode in ("rate", "max", "paced"):
        phase = bot[mode]
        assert phase["sent"] > 0
        assert phase["errors"] == 0, phase["error_kinds"]
        assert phase["acked"] == phase["sent"]
        assert phase["failed_answers"] == 0, phase["failures"]
        assert phase["answered"] == phase["acked"]
        assert phase["all_answered"] is True
        assert phase["ack_ms"]["p99"] is not None and phase["answer_ms"]["p99"] is not None
        assert phase["bot_cpu_s"] >= 0 and phase["rss_mb"]["end"] > 0
    assert bot["rate"]["sent"] == 20  # 20 events/s for 1 s
    assert bot["rss_mb"]["samples"]
    for name in ("bare_aiohttp", "bolt_ack_only"):
        for mode in ("rate", "max"):
            phase = report["paths"][name][mode]
            assert phase["sent"] > 0 and phase["acked"] == phase["sent"], phase["error_kinds"]
            assert phase["answered"] is None  # nothing answers there

    assert set(report["goals"]) >= {
        "ack_p99_under_100ms",
        "answered_1000_per_s",
        "share_at_least_20_percent",
        "memory_flat",
    }
    text = bench.table(report)
    assert "bolt_ack_only" in text and "goal memory flat" in text
