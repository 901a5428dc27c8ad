"""Quality of the shipped model packages on the dev set, measured end to end
through the Rust `codec` binary (the same path a user's audio takes), and
recorded in their manifests.

The measuring is benches/eval's (benches/eval/README.md defines every
figure); this script adds what the recipe needs of it: the per-codebook use
and perplexity of the codes, a JSON that training_report.py renders, and
--update-manifests. For the comparison with Opus and Codec2 as a table and a
plot, run benches/eval/run.py.

For every package in models/ (or those named with --models) and every stage
count it supports (mcrvq: 3..8, grvq: 2), each file is run through
`codec encode --stages N` then `codec decode`, and compared with the input:
PESQ-WB, STOI, log-mel distance, DNSMOS OVRL/SIG/BAK (when speechmos is
installed; a "reference" row gives the input's own), speaker similarity and
the share of utterances verified as their own speaker, the recogniser's phone
error rate (and word error rate on English speech), code and file kbps, and
per codebook the share of its entries used and the perplexity of its codes.
With --baselines, Opus at 6, 8 and 12 kbps (20 ms frames) runs on the same files.

Three held-out sets, each evaluated by default when prepare_data.py has
written it (--sets to choose): dev, asterisk Russian speech (519 files; an
unseen language and unseen voices, but the training data's G.722 prompt
channel), dev2, tuxpaint's Greek descriptions (one full-band voice on its own
microphone, never trained on), and dev_en, Drascula's English dub (acted
dialogue, 11 voices, 11 kHz; the set the word error rate is measured on).
--files N takes N files of each, evenly spaced over the sorted ids
(deterministic; 0 takes all of them).

Usage (from anywhere; paths default relative to the repository):

  cargo build --release -p codec-cli
  python models/recipe/evaluate.py                       # all packages, 80 files of each set
  python models/recipe/evaluate.py --sets dev2 --stages 4 --baselines  # the default on dev2 beside Opus
  python models/recipe/evaluate.py --files 8 --baselines # quick check, with Opus
  python models/recipe/evaluate.py --models mcrvq --files 0 --jobs 4 --out dev.json
  python models/recipe/evaluate.py --update-manifests    # write "quality" into each manifest.json
  python models/recipe/evaluate.py --folder ~/my-speech --models grvq

Options: --codec PATH (default target/release/codec), --data DIR (default
$CODEC_DATA or ~/.cache/codec-data), --sets dev dev2 dev_en, --models NAME...,
--stages N..., --files N, --folder DIR (--english: its speech is English),
--baselines, --no-dnsmos (DNSMOS is most of the run time: about 4 times
faster without it), --no-speaker, --no-recognition, --jobs N (files in
parallel, default 2), --out FILE.json, --update-manifests ("quality" from
dev, "quality_dev2" from dev2, "quality_dev_en" from dev_en; the manifest's
sha256 list covers the other files, so editing manifest.json leaves the
package valid).

The JSON (--out) holds one row per codec and rate (the table's figures, plus
the skipped counts, lag, and encode/decode real-time factors), the per-codebook
tables for every rate, the failures, and every file's figures: for the first
set at the top level, and for each other set the same again under its name.

Exit status: 0 when every file was evaluated, 1 when some encode/decode runs
failed (each is reported with its file), 2 on a usage error.
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benches" / "eval"))

import coders  # noqa: E402  (benches/eval, on the path above)
import evaluation  # noqa: E402
import machines  # noqa: E402
from inputs import DEV_SETS, ENGLISH_SETS, default_data, dev_files, folder_files  # noqa: E402
from metrics import Dnsmos  # noqa: E402
from repo import DEFAULT_CODEC, MODELS_DIR  # noqa: E402



def cell(x, digits=3) -> str:
    return "-" if x is None or x != x else f"{x:.{digits}f}"


def pct(x) -> str:
    return "-" if x is None or x != x else f"{100 * x:.1f}%"


def print_table(rows: list, reference: dict, with_dnsmos: bool) -> None:
    head = ["codec", "kbps", "file kbps", "PESQ-WB", "STOI", "mel dist"]
    if with_dnsmos:
        head += ["DNSMOS OVRL", "SIG", "BAK"]
    head += ["speaker sim", "verified", "WER", "PER", "files", "skipped PESQ/STOI", "failed"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        cells = [coders.label(r), f"{r['kbps']:.2f}", cell(r.get("file_kbps"), 2), cell(r.get("pesq_wb")),
                 cell(r.get("stoi")), cell(r.get("mel_distance"))]
        if with_dnsmos:
            cells += [cell(r.get("dnsmos_ovrl"), 2), cell(r.get("dnsmos_sig"), 2), cell(r.get("dnsmos_bak"), 2)]
        cells += [cell(r.get("speaker_sim")), pct(r.get("verified")), pct(r.get("wer")), pct(r.get("per"))]
        cells += [str(r["files"]), f"{r.get('pesq_skipped', 0)}/{r.get('stoi_skipped', 0)}", str(r["failed"])]
        print("| " + " | ".join(cells) + " |")
    if with_dnsmos and reference:
        cells = ["reference (input)", "-", "-", "-", "-", "-", cell(reference.get("dnsmos_ovrl"), 2),
                 cell(reference.get("dnsmos_sig"), 2), cell(reference.get("dnsmos_bak"), 2),
                 "-", "-", "-", "-", str(reference.get("files", 0)), "-", "-"]
        print("| " + " | ".join(cells) + " |")


def print_codebooks(key: str, table: list, size: int) -> None:
    print(f"\n{key}: per codebook, over {table[0]['codes']} frames (perplexity of at most {size})")
    print("| codebook | stage | group | entries used | perplexity |")
    print("|---|---|---|---|---|")
    for c in table:
        print(f"| {c['codebook']} | {c['stage']} | {c['group']} | {100 * c['used']:.1f}% | {c['perplexity']:.1f} |")


def update_manifest(model: str, key: str, rows: list, tables: dict, files: list, source: str, date: str) -> Path:
    path = MODELS_DIR / model / "manifest.json"
    manifest = json.loads(path.read_text())
    keep = ["kbps", "file_kbps", "pesq_wb", "stoi", "mel_distance", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak",
            "speaker_sim", "verified", "wer", "per", "pesq_skipped", "stoi_skipped", "files"]
    by_stages = {str(r["stages"]): {k: r[k] for k in keep if k in r} for r in rows if r.get("model") == model}
    top = max((r for r in rows if r.get("model") == model), key=lambda r: r["stages"])
    table = tables.get(top["key"]) or []
    manifest[key] = evaluation.rounded({
        "set": source,
        "files": len(files),
        "seconds": sum(f.get("seconds", 0.0) for f in files),
        "measured": date,
        "by": "models/recipe/evaluate.py, through the Rust codec binary",
        "weights_sha256": {k: v[:16] for k, v in sorted(manifest.get("files", {}).items())},
        "by_stages": by_stages,
        "codebooks_at_max_stages": {
            "stages": top["stages"],
            "used": [c["used"] for c in table],
            "perplexity": [c["perplexity"] for c in table],
        },
    })
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def evaluate_set(items: list, source: str, models: list, rates: list, codec: Path, dnsmos_path, jobs: int,
                 listen=None) -> dict:
    """Run every rate over one set of files, print its tables, return its figures."""
    results, wall = evaluation.evaluate_all(items, rates, str(codec), dnsmos_path, jobs, listen)
    rows = [evaluation.summarise(r, results) for r in rates]
    tables = {r["key"]: evaluation.codebook_table(r, results) for r in rates if r["kind"] == "codec"}
    reference = evaluation.reference_row(results)
    errors = [e for f in results for e in f["errors"]]
    evaluated = [f for f in results if "seconds" in f]
    audio_s = sum(f["seconds"] for f in evaluated)

    print()
    print(f"## {source}")
    print(f"{len(evaluated)} files, {audio_s:.1f} s of audio; {wall:.1f} s wall with {jobs} jobs "
          f"({wall / max(1, len(items)):.2f} s per file for {len(rates)} rates)\n")
    print_table(rows, reference, dnsmos_path is not None)
    for m in models:
        top = max((r for r in rates if r.get("model") == m), key=lambda r: r["stages"])
        if tables.get(top["key"]):
            print_codebooks(top["key"], tables[top["key"]], top["codebook_size"])
    for note in evaluation.lag_notes(rows):
        print(f"\nnote: {note}")
    if errors:
        print(f"\n{len(errors)} failures:")
        for e in errors:
            print(f"  {e['file']} [{e['key']}]: {e['error']}")
    date = evaluation.utc_now()
    report = evaluation.json_report(date=date, source=source, codec=codec, dnsmos_path=dnsmos_path, items=items,
                                    results=results, rows=rows, reference=reference, tables=tables, wall=wall,
                                    jobs=jobs)
    return {"report": report, "rows": rows, "tables": tables, "evaluated": evaluated, "errors": errors,
            "source": source, "date": date}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec", type=Path, default=DEFAULT_CODEC, help="the codec binary")
    ap.add_argument("--data", type=Path, default=None, help="data folder holding dev.jsonl and dev2.jsonl (default: %s)" % default_data())
    ap.add_argument("--sets", nargs="+", choices=list(DEV_SETS), default=None,
                    help="held-out sets to evaluate (default: each one prepare_data.py has written)")
    ap.add_argument("--models", nargs="+", default=None, help="package names (default: every models/*/manifest.json)")
    ap.add_argument("--files", type=int, default=80, help="files of each set, evenly spaced over the sorted ids; 0: all")
    ap.add_argument("--stages", nargs="+", type=int, help="only these stage counts (default: every one a package supports)")
    ap.add_argument("--folder", type=Path, default=None, help="evaluate the audio files under this folder instead")
    ap.add_argument("--english", action="store_true", help="the --folder's speech is English: add the word error rate")
    ap.add_argument("--no-speaker", action="store_true", help="skip the speaker similarity")
    ap.add_argument("--no-recognition", action="store_true", help="skip the recogniser (word and phone error rates)")
    ap.add_argument("--baselines", action="store_true", help="also Opus at 6, 8, 12 kbps, 20 ms frames")
    ap.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS (most of the run time)")
    ap.add_argument("--jobs", type=int, default=2, help="files evaluated in parallel")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--update-manifests", action="store_true",
                    help='write the figures into each manifest.json as "quality" (dev), "quality_dev2" and '
                         '"quality_dev_en"')
    args = ap.parse_args(argv)

    if args.update_manifests and args.folder is not None:
        ap.error("--update-manifests records dev-set figures: it cannot be used with --folder")
    if args.update_manifests and args.stages:
        ap.error("--update-manifests records every stage count: it cannot be used with --stages")
    known = coders.all_packages()
    models = args.models if args.models is not None else known
    unknown = [m for m in models if m not in known]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; packages in {MODELS_DIR}: {', '.join(known) or 'none'}")
    codec = args.codec.expanduser().resolve()
    if models and not os.access(codec, os.X_OK):
        ap.error(f"{codec} is not an executable: build it with `cargo build --release -p codec-cli` or pass --codec")
    baselines = ["opus"] if args.baselines else []
    missing = coders.missing_tools(baselines)
    if missing:
        ap.error(f"--baselines needs {', '.join(missing)}")

    absent = machines.missing(not args.no_speaker, not args.no_recognition)
    if absent:
        ap.error(f"missing {', '.join(absent)}: pip install -r benches/eval/requirements.txt "
                 "(or --no-speaker / --no-recognition)")
    rates = [r for m in models for r in coders.package_rates(m, args.stages)] + coders.baseline_rates(baselines)
    if not rates:
        ap.error("nothing to evaluate")
    data = (args.data or default_data()).expanduser()
    if args.folder is not None:
        sets = {"folder": folder_files(args.folder.expanduser(), args.files)}
    else:
        wanted = args.sets or [n for n in DEV_SETS if n == "dev" or (data / f"{n}.jsonl").is_file()]
        sets = {name: dev_files(data, args.files, name) for name in DEV_SETS if name in wanted}

    dnsmos_path = None if args.no_dnsmos else Dnsmos.find()
    print(f"{' + '.join(str(len(items)) for items, _ in sets.values())} files x {len(rates)} rates "
          f"({', '.join(r['key'] for r in rates)}), {args.jobs} jobs", flush=True)
    print("DNSMOS: " + (f"on ({dnsmos_path})" if dnsmos_path else
                        "off (--no-dnsmos)" if args.no_dnsmos else "off (pip install speechmos to add it)"), flush=True)

    jobs = max(1, args.jobs)
    def listen(name):
        english = name in ENGLISH_SETS or (name == "folder" and args.english)
        return evaluation.listeners(speaker=not args.no_speaker, words=english and not args.no_recognition,
                                    phones=not args.no_recognition)

    done = {name: evaluate_set(items, source, models, rates, codec, dnsmos_path, jobs, listen(name))
            for name, (items, source) in sets.items()}

    if args.out:
        # The first set at the top level (the layout training_report.py and
        # older readers know), any other under its name.
        names = list(done)
        report = dict(done[names[0]]["report"])
        for name in names[1:]:
            report[name] = done[name]["report"]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    if args.update_manifests:
        for name, d in done.items():
            key = "quality" if name == "dev" else f"quality_{name}"
            for m in models:
                print(f"updated {update_manifest(m, key, d['rows'], d['tables'], d['evaluated'], d['source'], d['date'])}")
    return 1 if any(d["errors"] for d in done.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
