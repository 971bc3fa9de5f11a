"""The search on the real SST-2 teacher, end to end: ``compressguard search``, then the plugin's
gate on the held-out split, beside the simplest baselines (all-int8, int8 with float32
embeddings) on the same requirements.

Teacher: all-MiniLM-L6-v2 fine-tuned on 4,000 SST-2 sentences (bench/html_report.py's recipe,
kept in .bench/minilm-sst2; built on first use, about 3 minutes). Requirements:
``label_loyalty>=0.97@0.95`` and ``knn_agreement>=0.6`` on the 872 dev sentences, half of them
held out; dropping upper layers allowed. Prints the command's report, its wall time and peak
memory, the gate's verdict on the held-out split, and each baseline's measurements.

    python bench/search_check.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "examples" / "demo"))

REQUIRE = ("label_loyalty>=0.97@0.95", "knn_agreement>=0.6")
GATE = """
def test_requirements(guard):
    guard.assert_label_loyalty(min=0.97, confidence=0.95)
    guard.assert_knn_agreement(min=0.6)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--teacher", default=str(ROOT / ".bench" / "minilm-sst2"))
    args = parser.parse_args()

    import numpy as np
    import onnx
    from agreement_check import read_tsv
    from html_report import fine_tune

    from pytest_compressguard.models import load_model
    from pytest_compressguard.search.candidates import quantize_keeping
    from pytest_compressguard.search.evaluate import measure, reference
    from pytest_compressguard.search.groups import groups
    from pytest_compressguard.search.requirements import parse
    from pytest_compressguard.search.tune import export_teacher, split

    shared, teacher = Path(args.shared), Path(args.teacher)
    if not (teacher / "model.safetensors").is_file():
        train = read_tsv(shared / "sst2" / "train.tsv")
        random.Random(0).shuffle(train)
        fine_tune(teacher, train[:4000])
    work = Path(tempfile.mkdtemp(prefix="search-check-"))
    dev = shared / "sst2" / "validation.tsv"
    command = [
        sys.executable,
        "-m",
        "pytest_compressguard",
        "search",
        f"--teacher={teacher}",
        f"--eval-data={dev}",
        "--text-column=sentence",
        *(f"--require={r}" for r in REQUIRE),
        f"--out={work / 'student'}",
        f"--compressguard-json={work / 'search.json'}",
        f"--compressguard-html={work / 'search.html'}",
        "--search-drop-layers",
    ]
    runner = (
        "import runpy, sys; sys.argv = sys.argv[1:]; "
        "code = 0\n"
        "try:\n    runpy.run_module('pytest_compressguard', run_name='__main__')\n"
        "except SystemExit as exc:\n    code = exc.code or 0\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "print(f'PEAK_MIB {int(status) / 1024:.0f}')\nsys.exit(code)"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", runner, *command[2:]], capture_output=True, text=True, cwd=work
    )
    wall = time.perf_counter() - start
    shown = [
        line
        for line in done.stdout.splitlines()
        if not line.startswith("compressguard search: evaluation")
    ]
    print("\n".join(shown))
    print(f"search: exit {done.returncode}, {wall:.0f} s wall")
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])

    # the plugin's gate on the held-out split
    rows = read_tsv(dev)
    _, held = split(len(rows), 0.5, 0)
    with (work / "held.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sentence", "label"])
        writer.writerows([rows[i]["sentence"], rows[i]["label"]] for i in held)
    (work / "test_gate.py").write_text(GATE)
    gate = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(work / "test_gate.py"),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            f"--rootdir={work}",
            f"--teacher={teacher}",
            f"--student={work / 'student'}",
            f"--eval-data={work / 'held.csv'}",
            "--text-column=sentence",
        ],
        capture_output=True,
        text=True,
        cwd=work,
    )
    print(
        f"the plugin's gate on the {len(held)} held-out sentences: {gate.stdout.splitlines()[-1]}"
    )

    # the simplest baselines, measured the same way
    texts = [r["sentence"] for r in rows]
    labels = np.array([int(r["label"]) for r in rows])
    model = load_model(str(teacher))
    folder = work / "baselines" / "fp32"
    fp32 = export_teacher(model, folder)
    found = groups(onnx.load(str(fp32)).graph)
    wanted = [parse(r) for r in REQUIRE]
    calibration, _ = split(len(rows), 0.5, 0)
    refs = {
        name: reference(model, [texts[i] for i in index], labels[index])
        for name, index in (("calibration", calibration), ("held out", held))
    }
    print("\n| student | size / teacher | split | " + " | ".join(REQUIRE) + " |")
    print("|---|---|---|" + "---|" * len(REQUIRE))
    for name, kept in (
        ("all-int8", []),
        ("int8, embeddings float32", ["word embeddings", "position and segment embeddings"]),
    ):
        path = quantize_keeping(
            fp32, work / "baselines" / name[:8] / "model.onnx", [n for g in kept for n in found[g]]
        )
        candidate = load_model(str(path), tokenizer=str(folder))
        ratio = path.stat().st_size / fp32.stat().st_size
        for split_name, ref in refs.items():
            m = measure(candidate, ref, wanted)
            cells = [
                f"{m.point[r]:.4f}"
                + (f" ({m.decisive[r]:.4f})" if r in m.spread else "")
                + ("" if m.holds[r] else " misses")
                for r in REQUIRE
            ]
            print(f"| {name} | {ratio:.2f} | {split_name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
