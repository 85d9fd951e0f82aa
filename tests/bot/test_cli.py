"""The `lessons` command, run as a real process: outputs, exit codes and what it writes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import POSTGRES_URL, shared_dir

from knowledge.database import make_engine
from knowledge.storage import Counts, Store

ELECTIONS = "what did we learn about elections?"
RESTRICTED_QUESTION = "good offices capacity in a transition"
PBPO_EOAR = "demo:eoar-petrova-untmis-2025"  # audience group:pbpo in knowledge/demo/corpus.json
SCHEMA_HINT = "run `lessons db upgrade`"
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/lessons"


def lessons(
    *args: str,
    db: Path,
    stdin: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` in the database's folder and return what it did."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=db.parent,
        env=_env(db, env),
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


def _env(db: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "LESSONS_DATABASE_URL": f"sqlite:///{db}",
        "LESSONS_LOG_LEVEL": "WARNING",
        "PYTHONIOENCODING": "utf-8",
        **(extra or {}),
    }


def counts(db: Path) -> Counts:
    """Count what the database holds, through a Store of this process."""
    store = Store.open(f"sqlite:///{db}")
    try:
        return asyncio.run(store.counts())
    finally:
        store.close()


def json_lines(output: str) -> list[dict[str, Any]]:
    lines = output.splitlines()
    assert all(line.startswith("{") for line in lines), output
    return [json.loads(line) for line in lines]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Return the path of a database file that does not exist yet."""
    return tmp_path / "x.db"


@pytest.fixture
def upgraded(db: Path, sqlite_template: Path) -> Path:
    """Return a migrated, empty database."""
    shutil.copy(sqlite_template, db)
    return db


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a database holding the demo corpus, loaded by the command itself (read-only)."""
    db = tmp_path_factory.mktemp("seeded") / "x.db"
    for command in (["db", "upgrade"], ["seed-demo"]):
        done = lessons(*command, db=db)
        assert done.returncode == 0, done.stderr
    return db


# db upgrade, seed-demo ----------------------------------------------------------------------


def test_upgrade_then_seed_then_seed_if_empty(db: Path) -> None:
    upgrade = lessons("db", "upgrade", db=db)
    assert upgrade.returncode == 0, upgrade.stderr
    assert upgrade.stdout == "Database schema is up to date (sqlite).\n"
    assert counts(db) == Counts(0, 0, 0, 0)

    seed = lessons("seed-demo", db=db)
    assert seed.returncode == 0, seed.stderr
    loaded = counts(db)
    assert loaded.products > 0
    assert seed.stdout == (
        f"Loaded the demo corpus: {loaded.products} products, {loaded.lessons} lessons, "
        f"{loaded.actions} actions, {loaded.people} people.\n"
    )

    again = lessons("seed-demo", "--if-empty", db=db)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "The database already holds lessons; demo not loaded.\n"
    assert counts(db) == loaded

    upgrade_again = lessons("db", "upgrade", db=db)
    assert upgrade_again.returncode == 0, upgrade_again.stderr
    assert counts(db) == loaded


def test_seed_if_empty_loads_an_empty_database(upgraded: Path) -> None:
    seed = lessons("seed-demo", "--if-empty", db=upgraded)

    assert seed.returncode == 0, seed.stderr
    assert seed.stdout.startswith("Loaded the demo corpus:")
    assert counts(upgraded).products > 0


# ask ----------------------------------------------------------------------------------------


def test_ask_json_prints_one_object_with_results(seeded: Path) -> None:
    done = lessons("ask", "--json", ELECTIONS, db=seeded)

    assert done.returncode == 0, done.stderr
    (answer,) = json_lines(done.stdout)
    assert answer["question"] == ELECTIONS
    results = answer["results"]
    assert isinstance(results, list)
    assert len(results) == 5
    for result in results:
        assert {"id", "external_id", "title", "score", "takeaway"} <= result.keys()
        assert isinstance(result["id"], int)
        assert str(result["external_id"]).startswith("demo:")
        assert isinstance(result["score"], float)
        assert result["title"]
        assert result["takeaway"]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert any("elect" in str(r["title"]).lower() for r in results)


def test_ask_json_says_whether_the_question_was_answered(seeded: Path) -> None:
    """Every line gains "answered"; an abstained answer keeps its ranked results (issue 20)."""
    stdin = f"{ELECTIONS}\nlessons about cholera outbreaks in camps\nrocket engine turbopumps\n\n"
    done = lessons("ask", "--json", "-", db=seeded, stdin=stdin)

    assert done.returncode == 0, done.stderr
    answers = json_lines(done.stdout)
    assert [a["answered"] for a in answers] == [True, False, False, False]
    cholera = answers[1]["results"]
    assert isinstance(cholera, list) and len(cholera) == 5  # the nearest, still ranked
    scores = [r["score"] for r in cholera]
    assert scores == sorted(scores, reverse=True)


def test_ask_prints_the_same_lessons_as_text(seeded: Path) -> None:
    as_json = lessons("ask", "--json", ELECTIONS, db=seeded)
    as_text = lessons("ask", "what", "did", "we", "learn", "about", "elections?", db=seeded)

    assert as_text.returncode == 0, as_text.stderr
    titles = [str(r["title"]) for r in json_lines(as_json.stdout)[0]["results"]]
    assert as_text.stdout.startswith("Here are the 5 closest lessons:")
    positions = [as_text.stdout.find(title) for title in titles]
    assert -1 not in positions, as_text.stdout
    assert positions == sorted(positions)
    assert as_text.stdout.count("[Helpful]  [Not helpful]") == 5
    assert "*" not in as_text.stdout  # bold markers are gone


def test_ask_json_reads_one_question_per_line_from_stdin(seeded: Path) -> None:
    done = lessons("ask", "--json", "-", db=seeded, stdin=f"{ELECTIONS}\n\nNEAR((\n")

    assert done.returncode == 0, done.stderr
    answers = json_lines(done.stdout)
    assert [a["question"] for a in answers] == [ELECTIONS, "", "NEAR(("]
    assert answers[0]["results"]
    assert answers[1]["results"] == []
    assert isinstance(answers[2]["results"], list)


def test_ask_limit_and_as_person(seeded: Path) -> None:
    guest = lessons("ask", "--json", "--limit", "10", RESTRICTED_QUESTION, db=seeded)
    pbpo = lessons(
        "ask", "--json", "--as", "farida.rahimi@un.example", RESTRICTED_QUESTION, db=seeded
    )

    guest_ids = [r["external_id"] for r in json_lines(guest.stdout)[0]["results"]]
    pbpo_ids = [r["external_id"] for r in json_lines(pbpo.stdout)[0]["results"]]
    assert 5 < len(guest_ids) <= 10
    assert PBPO_EOAR not in guest_ids
    assert len(pbpo_ids) == 5
    assert pbpo_ids[0] == PBPO_EOAR


# import -------------------------------------------------------------------------------------


def test_import_llis_twice_creates_then_updates(upgraded: Path) -> None:
    llis = shared_dir() / "data" / "llis" / "llis_2021-12-10.jsonl"
    if not llis.is_file():
        pytest.skip(f"NASA LLIS export not found at {llis} (set LESSONS_SHARED_DIR)")

    first = lessons("import", str(llis), db=upgraded)
    assert first.returncode == 0, first.stderr
    assert f"Imported {llis}: 2102 new and 0 updated products, 2102 lessons" in first.stdout
    after_first = counts(upgraded)
    assert after_first.products == 2102

    second = lessons("import", str(llis), db=upgraded)
    assert second.returncode == 0, second.stderr
    assert f"Imported {llis}: 0 new and 2102 updated products" in second.stdout
    assert counts(upgraded) == after_first


CSV = "external_id,type,title,date,lesson\ncsv-1,aar,Fuel convoy AAR,2024-03-01,Vet suppliers.\n"


def test_import_csv_writes_its_products(upgraded: Path) -> None:
    path = upgraded.parent / "good.csv"
    path.write_text(CSV, encoding="utf-8")

    done = lessons("import", str(path), db=upgraded)

    assert done.returncode == 0, done.stderr
    assert "1 new and 0 updated products, 1 lessons" in done.stdout
    assert counts(upgraded).products == 1


def test_import_csv_with_a_bad_row_writes_nothing(upgraded: Path) -> None:
    path = upgraded.parent / "bad.csv"
    path.write_text(CSV + "csv-2,aar,Second AAR,03/01/2024,Vet drivers.\n", encoding="utf-8")
    before = counts(upgraded)

    done = lessons("import", str(path), db=upgraded)

    assert done.returncode == 2
    assert "lessons: row 3, field 'date':" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Imported" not in done.stdout
    assert counts(upgraded) == before


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.csv", "missing.csv does not exist"),
        ("notes.txt", "notes.txt has an unknown file type '.txt'. Supported: .json"),
    ],
)
def test_import_of_an_unreadable_file_explains(upgraded: Path, name: str, message: str) -> None:
    if name.endswith(".txt"):
        (upgraded.parent / name).write_text("lessons", encoding="utf-8")

    done = lessons("import", name, db=upgraded)

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["ask", ELECTIONS], ""),
        (["ask", "--json", ELECTIONS], ""),
        (["chat"], f"{ELECTIONS}\n"),
        (["import", "good.csv"], ""),
        (["seed-demo"], ""),
        (["run", "--port", "1"], ""),  # exits before binding anything
    ],
    ids=["ask", "ask-json", "chat", "import", "seed-demo", "run"],
)
def test_commands_need_an_upgraded_database(db: Path, args: list[str], stdin: str) -> None:
    (db.parent / "good.csv").write_text(CSV, encoding="utf-8")

    done = lessons(*args, db=db, stdin=stdin)

    assert done.returncode == 2, done.stderr
    assert SCHEMA_HINT in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["ask", ELECTIONS], {"LESSONS_DATABASE_URL": UNREACHABLE}, "Connection refused"),
        (["db", "upgrade"], {"LESSONS_DATABASE_URL": "sqlite:///no/such/dir/x.db"}, "unable to"),
        (["ask", ELECTIONS], {"LESSONS_PORT": "abc"}, "LESSONS_PORT must be a port number"),
    ],
    ids=["postgres-down", "sqlite-no-folder", "bad-port"],
)
def test_unusable_settings_exit_2_with_a_message(
    db: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    done = lessons(*args, db=db, env=env)

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("lessons: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr


# eval beir ----------------------------------------------------------------------------------

DOCS = {
    "d1": ("Solar panel degradation in desert climates", "Dust and heat cut photovoltaic output."),
    "d2": ("Vaccine cold chain in remote districts", "Refrigerators fail when power is cut."),
    "d3": ("Coral reef bleaching after marine heatwaves", "Corals expel algae in warm water."),
    "d4": ("Bridge inspection with drones", "Drones photograph cracks in concrete spans."),
    "d5": ("Groundwater recharge in semi-arid basins", "Aquifers refill slowly after rain."),
}


def beir_folder(root: Path, queries: dict[str, str], qrels: dict[str, list[str]]) -> Path:
    """Write a BEIR folder: corpus.jsonl, queries.jsonl and qrels/test.tsv."""
    root.mkdir()
    (root / "qrels").mkdir()
    corpus = [{"_id": i, "title": t, "text": x} for i, (t, x) in DOCS.items()]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus), "utf-8")
    lines = [json.dumps({"_id": q, "text": text}) + "\n" for q, text in queries.items()]
    (root / "queries.jsonl").write_text("".join(lines), "utf-8")
    judged = [f"{q}\t{d}\t1\n" for q, docs in qrels.items() for d in docs]
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(judged))
    return root


def two_queries(tmp_path: Path) -> Path:
    return beir_folder(
        tmp_path / "tiny",
        {
            "q1": "How does dust affect photovoltaic solar panels?",
            "q2": "keeping vaccines cold when the power is cut",
            "q3": "a query without judgements is not counted",
        },
        {"q1": ["d1"], "q2": ["d2", "d5"]},
    )


def one_easy_query(tmp_path: Path) -> Path:
    return beir_folder(tmp_path / "easy", {"q1": DOCS["d3"][0]}, {"q1": ["d3"]})


def eval_beir(folder: Path, backend: str, db: Path) -> dict[str, Any]:
    env = {"LESSONS_EVAL_POSTGRES_URL": POSTGRES_URL}
    done = lessons("eval", "beir", str(folder), "--json", "--backend", backend, db=db, env=env)
    assert done.returncode == 0, done.stderr
    (result,) = json_lines(done.stdout)
    return result


def require_postgres() -> None:
    """Skip unless PostgreSQL answers (fail instead when LESSONS_REQUIRE_POSTGRES is set)."""
    engine = make_engine(POSTGRES_URL)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        reason = f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(exc).__name__})"
        if os.environ.get("LESSONS_REQUIRE_POSTGRES"):
            pytest.fail(reason + "; CI requires it", pytrace=False)
        pytest.skip(reason + "; set LESSONS_TEST_POSTGRES_URL to run these tests")
    finally:
        engine.dispose()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_eval_beir_json(tmp_path: Path, db: Path, backend: str) -> None:
    if backend == "postgres":
        require_postgres()

    result = eval_beir(two_queries(tmp_path), backend, db)

    assert result["backend"] == backend
    assert result["split"] == "test"
    assert result["queries"] == 2.0  # q3 has no judgements
    for metric in ("ndcg@10", "recall@100"):
        assert isinstance(result[metric], float)
        assert 0.0 < result[metric] <= 1.0
    assert not db.exists()  # evaluation uses its own temporary store


@pytest.mark.parametrize("backend", BACKENDS)
def test_eval_beir_exact_title_is_ranked_first(tmp_path: Path, db: Path, backend: str) -> None:
    if backend == "postgres":
        require_postgres()

    result = eval_beir(one_easy_query(tmp_path), backend, db)

    assert result["ndcg@10"] == 1.0
    assert result["recall@100"] == 1.0
    assert result["queries"] == 1.0


def test_eval_beir_without_the_split_explains(tmp_path: Path, db: Path) -> None:
    done = lessons("eval", "beir", str(two_queries(tmp_path)), "--split", "train", db=db)

    assert done.returncode == 2
    assert "train.tsv is missing: a BEIR folder has corpus.jsonl" in done.stderr


# chat ---------------------------------------------------------------------------------------


def test_chat_answers_help_and_a_question_then_exits_at_eof(seeded: Path) -> None:
    done = lessons("chat", db=seeded, stdin=f"help\n{ELECTIONS}\n")

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Lessons Bot — ask me what we learned about something.")
    help_at = out.find("Lessons Bot helps us learn from each other.")
    answer_at = out.find("Here are the 5 closest lessons:")
    assert -1 < help_at < answer_at
    assert "• Ask: what did we learn about election security?" in out
    assert out.count("[Helpful]  [Not helpful]") == 5
    assert out.count("you> ") == 3  # two questions, then end of input


# run ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_run_serves_healthz_until_terminated(upgraded: Path) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=upgraded.parent,
        env=_env(upgraded, {"LESSONS_LOG_LEVEL": "INFO"}),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        answered = await poll_healthz(proc, f"http://127.0.0.1:{port}/healthz")
    finally:
        if proc.returncode is None:
            proc.terminate()
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    log, out = stderr.decode(), stdout.decode()
    assert answered == (200, {"status": "ok"}), log
    assert proc.returncode == 0, log
    assert "Lessons Bot is running (database: sqlite)" in out
    assert f"Chat:      http://localhost:{port}/" in out
    assert f"Dashboard: http://localhost:{port}/dashboard" in out
    assert "login token" not in out  # loopback needs none
    assert '"GET /healthz HTTP/1.1" 200' in log


async def test_run_off_loopback_prints_a_login_token(upgraded: Path) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "bot", "run", "--host", "0.0.0.0", "--port", str(port)],
        cwd=upgraded.parent,
        env=_env(upgraded, {"LESSONS_LOGIN_TOKEN": "correct-horse-battery"}),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        answered = await poll_healthz(proc, f"http://127.0.0.1:{port}/healthz")
    finally:
        if proc.returncode is None:
            proc.terminate()
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert answered == (200, {"status": "ok"}), stderr.decode()
    assert "sign in with the login token correct-horse-battery" in stdout.decode()


async def poll_healthz(proc: asyncio.subprocess.Process, url: str) -> tuple[int, Any] | None:
    """Wait (boundedly) for the server process to answer its health check."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        for _ in range(300):  # up to ~30 s for the process to start listening
            if proc.returncode is not None:
                return None
            try:
                async with session.get(url) as response:
                    return response.status, await response.json()
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    return None


@pytest.mark.parametrize(("level", "sdk_level"), [("INFO", "WARNING"), ("DEBUG", "NOTSET")])
def test_the_agents_sdk_logs_each_turn_only_when_debugging(
    upgraded: Path, monkeypatch: pytest.MonkeyPatch, level: str, sdk_level: str
) -> None:
    # At INFO the SDK writes three or four lines for every Teams message.
    from bot.cli import main

    sdk_log = logging.getLogger("microsoft_agents")
    before = sdk_log.level
    monkeypatch.setenv("LESSONS_DATABASE_URL", f"sqlite:///{upgraded}")
    monkeypatch.setenv("LESSONS_LOG_LEVEL", level)
    sdk_log.setLevel(logging.NOTSET)
    try:
        assert main(["db", "upgrade"]) == 0
        assert logging.getLevelName(sdk_log.level) == sdk_level
    finally:
        sdk_log.setLevel(before)
