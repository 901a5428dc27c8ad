"""The whole quality evaluation in one command: every shipped model at every
stage count it supports, decoded through the Rust `codec` binary, beside Opus
(6, 8, 12 kbps, 20 ms frames) and Codec2 (3200, 1600) on the same files of
each held-out set, with what machines hear of each (speaker similarity,
recognition error). Rewrites results.md and rate_quality.png (beside this
file, or in --out-dir).

  python benches/eval/run.py                       # 40 files of dev, dev2 and dev_en
  python benches/eval/run.py --files 4             # a quick check
  python benches/eval/run.py --folder ~/speech --out-dir ~/speech-eval [--english]
  python benches/eval/run.py --folder ~/speech --decoded ~/speech-decoded --out-dir ~/speech-eval
  python benches/eval/run.py --models mcrvq --stages 3 4 8 --baselines opus

Exit status: 0 when every file went through every coder, 1 when some did not
(each failure is listed), 2 on a usage error.
"""

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

import repo  # first: it puts the recipe package on the import path
import coders
import evaluation
import machines
import report
from inputs import DEV_SETS, ENGLISH_SETS, default_data, dev_files, folder_files
from metrics import Dnsmos


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=40, help="files, evenly spaced over the sorted list; 0: all (default 40)")
    ap.add_argument("--folder", type=Path, help="the audio files under this folder instead of the dev set")
    ap.add_argument("--data", type=Path, help="folder holding dev.jsonl (default $CODEC_DATA or ~/.cache/codec-data)")
    ap.add_argument("--sets", nargs="+", choices=list(DEV_SETS), default=list(DEV_SETS),
                    help="held-out sets: dev (asterisk Russian), dev2 (a full-band Greek voice), dev_en (English "
                         "dialogue, 11 voices); default all three")
    ap.add_argument("--decoded", type=Path,
                    help="with --folder: score the files already decoded under this folder (same relative paths, "
                         "any audio suffix) against their inputs, instead of running the coders")
    ap.add_argument("--english", action="store_true",
                    help="the --folder's speech is English: add the recogniser's word error rate")
    ap.add_argument("--no-speaker", action="store_true", help="skip the speaker similarity")
    ap.add_argument("--no-recognition", action="store_true", help="skip the recogniser (word and phone error rates)")
    ap.add_argument("--codec", type=Path, default=repo.DEFAULT_CODEC, help="the codec binary (default target/release/codec)")
    ap.add_argument("--models", nargs="+", help="package names (default: every models/*/manifest.json)")
    ap.add_argument("--stages", nargs="+", type=int, help="only these stage counts (default: every one a package supports)")
    ap.add_argument("--baselines", nargs="*", default=["opus", "codec2"], choices=["opus", "codec2"],
                    help="baseline codecs (default: opus codec2; none with the option alone)")
    ap.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS, most of the run time (a quick check)")
    ap.add_argument("--jobs", type=int, default=2, help="files evaluated in parallel (default 2)")
    ap.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent,
                    help="where results.md and rate_quality.png go (default: benches/eval)")
    ap.add_argument("--json", type=Path, help="also write every figure, per file too, as JSON here")
    return ap, ap.parse_args(argv)


def default_first(names: list) -> list:
    default = coders.default_model()
    return sorted(names, key=lambda n: (n != default, n))


def write_outputs(args, argv, sections: list, reports: dict, coders_line: str, wall: float, final: bool) -> None:
    date = evaluation.utc_now()
    command = "python benches/eval/run.py" + ("" if not argv else " " + shlex.join(argv))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    text = report.markdown(sections, date=date[:16].replace("T", " ") + " UTC", command=command, wall=wall,
                           jobs=args.jobs, coders=coders_line)
    (args.out_dir / "results.md").write_text(text)
    plotted = report.plot(sections, args.out_dir / "rate_quality.png")
    if final:
        print("\n" + text)
    print(f"wrote {args.out_dir / 'results.md'}" + (f" and {args.out_dir / 'rate_quality.png'}" if plotted else "")
          + f" ({wall:.0f} s)", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(reports, indent=2) + "\n")
        print(f"wrote {args.json}", flush=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap, args = parse_args(argv)
    if args.decoded is not None:
        if args.folder is None:
            ap.error("--decoded needs --folder: the inputs the decoded files are scored against")
        if not args.decoded.expanduser().is_dir():
            ap.error(f"--decoded {args.decoded}: not a folder")
        args.models, args.baselines = [], []  # nothing to encode: the files are decoded already
    known = coders.all_packages()
    models = default_first(args.models if args.models is not None else known)
    unknown = [m for m in models if m not in known]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; packages: {', '.join(known) or 'none'}")
    codec = args.codec.expanduser().resolve()
    if models and not os.access(codec, os.X_OK):
        ap.error(f"{codec} is not an executable: build it with `cargo build --release -p codec-cli` or pass --codec")
    missing = coders.missing_tools(args.baselines)
    if missing:
        ap.error("missing: " + ", ".join(missing))
    dnsmos_path = None if args.no_dnsmos else Dnsmos.find()
    if not args.no_dnsmos and dnsmos_path is None:
        ap.error("DNSMOS needs the speechmos package: pip install -r benches/eval/requirements.txt (or --no-dnsmos)")

    absent = machines.missing(not args.no_speaker, not args.no_recognition)
    if absent:
        ap.error(f"missing {', '.join(absent)}: pip install -r benches/eval/requirements.txt "
                 "(or --no-speaker / --no-recognition)")
    rates = [r for m in models for r in coders.package_rates(m, args.stages)] + coders.baseline_rates(args.baselines)
    if args.decoded is not None:
        rates = [coders.given_rate(args.decoded.expanduser().resolve())]
    if not rates:
        ap.error("nothing to evaluate")
    if args.folder is not None:
        sets = {"folder": folder_files(args.folder.expanduser(), args.files)}
    else:
        data = (args.data or default_data()).expanduser()
        sets = {name: dev_files(data, args.files, name) for name in args.sets}

    coders_line = report.provenance(rates)
    print(f"{len(rates)} coders ({', '.join(r['key'] for r in rates)}), {args.jobs} jobs", flush=True)
    sections, reports, errors, wall = [], {}, [], 0.0
    for name, (items, source) in sets.items():
        english = name in ENGLISH_SETS or (name == "folder" and args.english)
        listen = evaluation.listeners(speaker=not args.no_speaker, words=english and not args.no_recognition,
                                      phones=not args.no_recognition)
        print(source, flush=True)
        results, set_wall = evaluation.evaluate_all(items, rates, str(codec), dnsmos_path, max(1, args.jobs), listen)
        wall += set_wall
        rows = [evaluation.summarise(r, results) for r in rates]
        reference = evaluation.reference_row(results)
        set_errors = [e for f in results for e in f["errors"]]
        errors += set_errors
        notes = evaluation.lag_notes(rows) + [f"failed: {e['file']} [{e['key']}]: {e['error']}" for e in set_errors]
        sections.append({"name": name, "source": source, "rows": rows, "reference": reference, "notes": notes,
                         "files": len(items), "seconds": sum(f["seconds"] for f in results if "seconds" in f)})
        if args.json:
            tables = {r["key"]: evaluation.codebook_table(r, results) for r in rates if r["kind"] == "codec"}
            reports[name] = evaluation.json_report(date=evaluation.utc_now(), source=source, codec=codec,
                                                   dnsmos_path=dnsmos_path, items=items, results=results, rows=rows,
                                                   reference=reference, tables=tables, wall=set_wall, jobs=args.jobs)
        # After every set, so that a long run stopped midway keeps the sets it finished.
        write_outputs(args, argv, sections, reports, coders_line, wall, final=len(sections) == len(sets))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
