"""The pytest11 entry point: options, session state, fixtures, reports.

Nothing heavy is imported here: torch, transformers and onnxruntime load only when a
fixture needs a model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pytest_compressguard import options
from pytest_compressguard.core.errors import CompressGuardError, SnapshotSettingsError
from pytest_compressguard.guard import Guard
from pytest_compressguard.models.base import Model
from pytest_compressguard.models.spec import parse_spec
from pytest_compressguard.session.snapshot import write_snapshot
from pytest_compressguard.session.state import SessionState

T = TypeVar("T")
STATE = pytest.StashKey[SessionState]()
_WORKER_KEY = "compressguard_records"


def pytest_addoption(parser: pytest.Parser) -> None:
    options.register(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "compressguard(data=NAME or [NAMES], reference='teacher' or 'baseline'): run the "
        "test's guard on these --eval-data sets only, against the teacher or the --baseline "
        "models only",
    )
    settings = options.resolve(config)
    cache_dir: Path | None = None
    if settings.cache_dir:
        cache_dir = Path(settings.cache_dir).expanduser()
    elif getattr(config, "cache", None) is not None:
        cache_dir = config.cache.mkdir("compressguard")
    state = SessionState(settings, cache_dir)
    if not hasattr(config, "workerinput"):  # xdist workers have no terminal of their own
        try:  # said once, before any test runs, not in the setup of every test
            state.check_snapshots()
        except SnapshotSettingsError as exc:
            raise pytest.UsageError(f"compressguard: {exc}") from None
        from pytest_compressguard.report.progress import TerminalProgress

        state.attacks.progress = TerminalProgress(config)
    config.stash[STATE] = state


def _state(config: pytest.Config) -> SessionState:
    return config.stash[STATE]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = _state(metafunc.config)
    students = state.settings.student
    if "student" in metafunc.fixturenames and students:
        metafunc.parametrize(
            "student",
            students,
            indirect=True,
            scope="session",
            ids=[parse_spec(s).name for s in students],
        )
    baselines = state.settings.baseline
    if "compressguard_reference" in metafunc.fixturenames and baselines:
        wanted = _marked(metafunc.definition, "reference")
        references = [
            spec
            for spec, role in (
                (state.settings.teacher, "teacher"),
                *((b, "baseline") for b in baselines),
            )
            if wanted is None or role in wanted
        ]
        metafunc.parametrize(
            "compressguard_reference",
            references,
            indirect=True,
            scope="session",
            ids=[
                "teacher" if spec == state.settings.teacher else f"vs-{parse_spec(spec).name}"
                for spec in references
            ],
        )
    if "compressguard_data" in metafunc.fixturenames and len(state.eval_sets) > 1:
        wanted = _marked(metafunc.definition, "data")
        names = [n for n in state.eval_sets if wanted is None or n in wanted]
        metafunc.parametrize("compressguard_data", names, indirect=True, scope="session", ids=names)


def _marked(item: pytest.Item, what: str) -> list[str] | None:
    """The eval sets (``what="data"``) or references (``"reference"``) that
    ``@pytest.mark.compressguard(...)`` restricts a test to (None: every one)."""
    marker = item.get_closest_marker("compressguard")
    if marker is None or what not in marker.kwargs:
        return None
    found = marker.kwargs[what]
    return [found] if isinstance(found, str) else list(found)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A marker naming an eval set that no ``--eval-data`` names is a usage error."""
    state = _state(config)
    if not state.settings.teacher:
        return
    for item in items:
        references = _marked(item, "reference")
        odd = [r for r in references or () if r not in ("teacher", "baseline")]
        if odd:
            raise pytest.UsageError(
                f"compressguard: {item.nodeid} is marked for reference "
                f"{', '.join(map(repr, odd))}; a reference is 'teacher' or 'baseline'"
            )
        wanted = _marked(item, "data")
        unknown = [name for name in wanted or () if name not in state.eval_sets]
        if unknown:
            raise pytest.UsageError(
                f"compressguard: {item.nodeid} is marked for eval set "
                f"{', '.join(map(repr, unknown))}, but the eval sets are "
                f"{', '.join(map(repr, state.eval_sets))} (name them with --eval-data NAME=PATH)"
            )


def _fail_cleanly(action: Callable[[], T]) -> T:
    """Run a load; turn its CompressGuardError into a one-line failure with no traceback."""
    try:
        return action()
    except CompressGuardError as exc:
        problem = str(exc)
    pytest.fail(f"compressguard: {problem}", pytrace=False)


@pytest.fixture(scope="session")
def teacher(request: pytest.FixtureRequest) -> Model:
    """The teacher model (``--teacher``)."""
    state = _state(request.config)
    if not state.settings.teacher:
        pytest.skip("compressguard: no teacher model (pass --teacher or set compressguard_teacher)")
    return _fail_cleanly(lambda: state.model(state.settings.teacher))


@pytest.fixture(scope="session")
def student(request: pytest.FixtureRequest) -> Model:
    """The student model; tests using it run once per ``--student``."""
    state = _state(request.config)
    spec = getattr(request, "param", None)
    if spec is None:
        pytest.skip("compressguard: no student model (pass --teacher and --student)")
    return _fail_cleanly(lambda: state.model(spec))


@pytest.fixture(scope="session")
def compressguard_data(request: pytest.FixtureRequest) -> str | None:
    """The name of the current eval set; tests using it run once per ``--eval-data`` set
    (those that ``@pytest.mark.compressguard(data=...)`` allows)."""
    return getattr(request, "param", None) or next(iter(_state(request.config).eval_sets), None)


@pytest.fixture(scope="session")
def compressguard_reference(request: pytest.FixtureRequest) -> str | None:
    """The spec of the model the current student is compared with: the teacher, or a
    ``--baseline``; with baselines, tests using it run once per reference (those that
    ``@pytest.mark.compressguard(reference=...)`` allows)."""
    return getattr(request, "param", None) or _state(request.config).settings.teacher


@pytest.fixture(scope="session")
def compressguard_comparison(
    request: pytest.FixtureRequest,
    teacher: Model,
    student: Model,
    compressguard_data: str | None,
    compressguard_reference: str | None,
) -> Guard:
    """The session's comparison of the current student with the teacher (or the current
    ``--baseline``) on the current eval set (for session-scoped fixtures of your own; its
    checks name no test)."""
    state = _state(request.config)
    reference = teacher
    if compressguard_reference not in (None, teacher.spec.text):
        reference = _fail_cleanly(lambda: state.model(compressguard_reference))
    comparison = _fail_cleanly(lambda: state.comparison(reference, student, compressguard_data))
    if state.settings.ood_data:  # embedded here, in a test's setup, not after the last test
        comparison.preload_ood()
    return comparison


@pytest.fixture
def guard(request: pytest.FixtureRequest, compressguard_comparison: Guard) -> Guard:
    """The comparison of the teacher and the current student on ``--eval-data``, bound to
    the test: its checks record the test's id and appear in ``--junitxml``. Every metric is
    computed once per session, whichever test asks first."""
    return compressguard_comparison.for_test(request.node.nodeid, request.node.user_properties)


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """A test stopped by a failed check: the assertions it never reached are recorded as
    not run (the reports show them)."""
    guard = getattr(item, "funcargs", {}).get("guard")
    function = getattr(item, "function", None)
    if call.when == "call" and call.excinfo is not None and isinstance(guard, Guard):
        if function is not None:
            guard.stopped(item.nodeid, function, call.excinfo.value)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: collect the comparisons a worker recorded."""
    payload = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if payload:
        from pytest_compressguard.report.record import from_json

        _state(node.config).worker_records.extend(from_json(r) for r in json.loads(payload))


@pytest.hookimpl(tryfirst=True)  # before junitxml writes its file
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = _state(config)
    if hasattr(config, "workerinput"):  # an xdist worker: the controller reports
        from pytest_compressguard.report.record import to_json

        payload = json.dumps([to_json(r) for r in state.records()])
        config.workeroutput[_WORKER_KEY] = payload  # type: ignore[attr-defined]
        return
    records = state.final_records = state.records()
    stopped = exitstatus == pytest.ExitCode.INTERRUPTED or config.option.collectonly
    if state.settings.pairwise and not stopped:  # it may load models: not after a Ctrl-C
        state.pairwise_table = state.pairwise()
    if state.settings.snapshot_update and not stopped:
        try:
            path, examples = write_snapshot(state, state.settings.snapshot_update, records)
        except CompressGuardError as exc:
            state.snapshot_line = f"compressguard: no snapshot written: {exc}"
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        else:
            size = path.stat().st_size
            state.snapshot_line = (
                f"compressguard: teacher snapshot written to {path} ({size / 1e6:.2f} MB, "
                f"{size / 1e3 / max(examples, 1) * 1000:.0f} KB per 1,000 examples)"
            )
    if state.settings.json:
        from pytest_compressguard.report import json_report

        json_report.write(state.settings.json, records, state.pairwise_table)
    if state.settings.html:
        from pytest_compressguard.report import html

        html.write(state.settings.html, records, state.pairwise_table)
    _junit_properties(config, records)


def _junit_properties(config: pytest.Config, records: list[dict[str, Any]]) -> None:
    """Each comparison's scalar metrics as properties of the --junitxml test suite."""
    add = _suite_property_writer(config)
    if add is None:
        return
    for record in records:
        pair = f"compressguard[{record['student']}]"
        if "eval_set" in record:
            pair += f"[{record['eval_set']}]"
        for metric, value in record["metrics"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                add(f"{pair}.{metric}", f"{value:.6g}")


def _suite_property_writer(config: pytest.Config) -> Callable[[str, object], None] | None:
    """The function behind pytest's ``record_testsuite_property`` fixture: the junitxml
    plugin's ``add_global_property``, found among the registered plugins.

    The fixture itself cannot be used here: under xdist only the controller writes the XML
    and it runs no fixture, so the controller adds the merged metrics at the session's end.
    """
    if not getattr(config.option, "xmlpath", None):
        return None
    for plugin in config.pluginmanager.get_plugins():
        add = getattr(plugin, "add_global_property", None)
        if callable(add) and hasattr(plugin, "logfile"):
            return add
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = _state(config)
    records = state.final_records if state.final_records is not None else state.records()
    if not records and state.pairwise_table is None and state.snapshot_line is None:
        return
    from pytest_compressguard.report import terminal

    terminalreporter.write_sep("=", "compressguard")
    for line in terminal.lines(records):
        terminalreporter.write_line(line)
    if state.pairwise_table is not None:
        for line in terminal.pairwise_lines(state.pairwise_table):
            terminalreporter.write_line(line)
    for kind, path in (("metrics", state.settings.json), ("HTML report", state.settings.html)):
        if path:
            terminalreporter.write_line(f"compressguard: {kind} written to {path}")
    if state.snapshot_line is not None:
        terminalreporter.write_line(state.snapshot_line)
