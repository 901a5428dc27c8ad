"""Write models/NAME/TRAINING.md from a run's log and an evaluation.

  python training_report.py --name mcrvq [--eval results.json] [--notes notes.md]

The log (RUNS/NAME/log.jsonl) gives the steps, hours, loss curve and the
training-time dev figures; the evaluation (from evaluate.py, decoded through
the Rust binary) gives the quality the package is shipped with. Notes are
free text kept verbatim (what was tried, what helped, what did not).
"""

import argparse
import json
import platform
import sys
from pathlib import Path

from train import default_runs

REPO = Path(__file__).resolve().parents[2]


def read_log(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def phases(records):
    """Consecutive stretches of training run with the same loss settings."""
    out, current = [], None
    for r in records:
        if r.get("event") == "start":
            a = r["args"]
            key = (a.get("gan", False), a.get("w_complex"), a.get("lr"), a.get("batch"),
                   a.get("decay_from"), a.get("decay_to"), a.get("lr_final"))
            if current is None or current["key"] != key:
                current = {"key": key, "args": a, "from": None, "to": None}
                out.append(current)
        elif "step" in r and r.get("event") is None and current is not None:
            current["from"] = current["from"] or r["step"]
            current["to"] = r["step"]
    return out


def mean_last(records, key, n=10):
    """Over the last n log lines (of 50 steps each) since the last restart."""
    starts = [i for i, r in enumerate(records) if r.get("event") == "start"]
    tail = records[starts[-1]:] if starts else records
    vals = [r[key] for r in tail if r.get("event") is None and key in r][-n:]
    return sum(vals) / len(vals) if vals else float("nan")


def eval_table(ev, model):
    head = "| codec | kbps | file kbps | PESQ-WB | STOI | mel distance | DNSMOS OVRL |"
    out = [head, "|---|---|---|---|---|---|---|"]
    for r in ev["rows"]:
        if r.get("model") == model or r.get("kind") != "codec":
            name = f"{r['model']} {r['stages']} stages" if r.get("kind") == "codec" else r["key"]
            dns = r.get("dnsmos_ovrl")
            out.append(f"| {name} | {r['kbps']:.2f} | {r['file_kbps']:.2f} | {r['pesq_wb']:.3f} | {r['stoi']:.3f} | "
                       f"{r['mel_distance']:.3f} | {dns:.2f} |" if dns is not None else
                       f"| {name} | {r['kbps']:.2f} | {r['file_kbps']:.2f} | {r['pesq_wb']:.3f} | {r['stoi']:.3f} | "
                       f"{r['mel_distance']:.3f} | - |")
    return out


def eval_section(ev, model, name):
    lines = ["", f"## Quality on {name} (through the Rust `codec` binary)", "",
             f"{ev['source']}; {ev['seconds']:.0f} s of audio; evaluated {ev['date']} with "
             f"`python models/recipe/evaluate.py --sets {name} --files {len(ev['files'])}"
             f"{' --baselines' if any(r['kind'] != 'codec' for r in ev['rows']) else ''}`.", ""]
    lines += eval_table(ev, model)
    usage = ev.get("codebooks", {})
    top = max((k for k in usage if k.startswith(model + "@")), default=None, key=lambda k: int(k.split("@")[1]))
    if top:
        books = usage[top]
        lines += ["", f"Codebooks at {top.split('@')[1]} stages over these files ({books[0]['codes']} frames):", "",
                  "| codebook | group | stage | entries used | perplexity |", "|---|---|---|---|---|"]
        lines += [f"| {b['codebook']} | {b['group']} | {b['stage']} | {b['used']:.1%} | {b['perplexity']:.0f} |"
                  for b in books]
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--runs", type=Path, default=default_runs())
    ap.add_argument("--eval", type=Path, help="evaluate.py JSON")
    ap.add_argument("--notes", type=Path, help="markdown to include")
    ap.add_argument("--hardware", default=f"{platform.machine()} CPU, 2 cores, one thread per run")
    args = ap.parse_args()

    records = read_log(args.runs / args.name / "log.jsonl")
    stops = [r for r in records if r.get("event") == "checkpoint"]
    last = stops[-1] if stops else {}
    manifest = json.loads((REPO / "models" / args.name / "manifest.json").read_text())
    start = next(r for r in records if r.get("event") == "start")
    lines = [
        f"# {args.name}: how it was trained",
        "",
        f"- Quantizer: {manifest['quantizer']['kind'].upper()}, {manifest['quantizer']['groups']} group(s) x "
        f"{manifest['quantizer']['stages']} stages x {manifest['quantizer']['codebook_size']} codes.",
        f"- Network: {manifest['architecture']['parameters']:,} parameters "
        f"(encoder {manifest['architecture']['enc_depth']} and decoder {manifest['architecture']['dec_depth']} "
        f"ConvNeXt blocks of {manifest['architecture']['dim']} channels, latent {manifest['latent_dim']}).",
        f"- Data: {start['train_hours']} h of training speech (see `models/recipe/README.md`); "
        "dev set: asterisk Russian (unseen language and voices); dev2: tuxpaint Greek (one full-band voice, "
        "never trained on).",
        f"- Steps: {last.get('step', 0):,}; training time: {last.get('hours', 0):.2f} h on {args.hardware}.",
        "- Resume: `python warmstarts.py get NAME`, then `python train.py --name NAME --quantizer KIND "
        "--init-from warmstart/NAME.safetensors` (add the phase's flags below).",
        "",
        "## Phases",
        "",
        "| steps | losses | batch | lr |",
        "|---|---|---|---|",
    ]
    for p in phases(records):
        a = p["args"]
        losses = "log-mel (4 res.)"
        if a.get("w_complex", 0) > 0:
            losses += f" + complex STFT x{a['w_complex']}"
        if a.get("gan"):
            losses += " + MPD/MRD adversarial and feature matching (`--gan`)"
        lr = str(a["lr"])
        if a.get("decay_from") is not None:
            lr += f", cosine to {a['lr_final']} over steps {a['decay_from']}-{a['decay_to']}"
        lines.append(f"| {p['from']}-{p['to']} | {losses}, commitment x{a.get('w_commit')} | "
                     f"{a['batch']} x {a['seconds']} s | {lr} |")
    lines += ["", "## Final losses (mean of the last 500 steps of the last phase)", ""]
    for key in ("mel", "complex", "commit", "adv", "fm", "disc"):
        v = mean_last(records, key)
        if v == v and v != 0:
            lines.append(f"- {key}: {v:.4f}")
    evals = [r for r in records if r.get("event") == "eval"]
    if evals:
        lines += ["", "## Dev curve during training (PyTorch, 16 files of each set)", "",
                  "| step | stages | PESQ-WB | STOI | PESQ-WB, weight average | STOI, weight average "
                  "| dev2 PESQ-WB | dev2 STOI |",
                  "|---|---|---|---|---|---|---|---|"]

        def pair(d):
            return f"{d['pesq']:.3f} | {d['stoi']:.3f}" if d else "- | -"

        for r in evals:
            for stages, d in r["dev"].items():
                lines.append(f"| {r['step']} | {stages} | {pair(d)} | {pair(r.get('dev_ema', {}).get(stages))} | "
                             f"{pair(r.get('dev2', {}).get(stages))} |")
        final = evals[-1]["dev"]
        top = max(final, key=int)
        lines += ["", f"Codebook use at step {evals[-1]['step']} ({top} stages, 16 dev files): share of entries "
                  f"used {final[top]['used']}, perplexity {final[top]['perplexity']}."]
    if args.eval:
        top_ev = json.loads(args.eval.read_text())
        # evaluate.py puts its first set at the top level and dev2 under "dev2".
        first = "dev2" if top_ev["source"].startswith("dev2") else "dev"
        lines += eval_section(top_ev, args.name, first)
        if "dev2" in top_ev:
            lines += eval_section(top_ev["dev2"], args.name, "dev2")
    if args.notes:
        lines += ["", args.notes.read_text().strip()]
    out = REPO / "models" / args.name / "TRAINING.md"
    out.write_text("\n".join(lines).rstrip() + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
