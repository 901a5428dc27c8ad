"""The evaluation's outputs for people: the markdown tables (results.md), the
rank correlations of the figures with the recognition error, and the
rate-quality plot (rate_quality.png)."""

import math
import shutil
import subprocess
from pathlib import Path

from coders import label, read_manifest
from repo import REPO

FAMILY_STYLE = {"opus": ("Opus", "tab:blue", "s"), "codec2": ("Codec2", "tab:gray", "^")}
PACKAGE_STYLES = [("tab:red", "o"), ("tab:green", "D"), ("tab:purple", "P"), ("tab:orange", "v")]


def fmt(x, digits=3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _first_line(cmd: list) -> "str | None":
    if shutil.which(cmd[0]) is None:
        return None
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (p.stdout or p.stderr).strip().splitlines()
    return lines[0].strip() if p.returncode == 0 and lines else None


def provenance(rows: list) -> str:
    """What is measured: the commit, each package's training steps, the baseline versions
    (taken when the run starts, since the tree may change under a long run)."""
    parts = []
    commit = _first_line(["git", "-C", str(REPO), "describe", "--always", "--dirty"])
    models = sorted({r["model"] for r in rows if r["kind"] == "codec"})
    if models:
        steps = ", ".join(f"{m} {read_manifest(m).get('training', {}).get('steps', '?'):,} training steps" for m in models)
        parts.append(f"the `codec` binary and packages at commit {commit or 'unknown'} ({steps})")
    if any(r["kind"] == "opus" for r in rows):
        parts.append(_first_line(["opusenc", "--version"]) or "opusenc")
    parts += [f"files decoded elsewhere, under {r['dir']}" for r in rows if r["kind"] == "given"]
    if any(r["kind"] == "codec2" for r in rows):
        version = _first_line(["dpkg-query", "-W", "-f", "${Version}", "codec2"])
        parts.append(f"codec2 {version}" if version else "codec2")
    return "; ".join(parts)


def nominal(row: dict) -> str:
    if row["kind"] == "given":
        return "-"
    return f"{row['kbps']:.2f}" if row["kind"] == "codec" else f"{row['kbps']:g}"


HEADER = ("| codec | kbps (nominal) | kbps (bytes) | PESQ-WB | STOI | mel distance | DNSMOS SIG | DNSMOS BAK | "
          "DNSMOS OVRL | speaker sim | verified | WER | PER |")
# What each figure is called in the correlation table, and whether higher is better.
PREDICTORS = [("pesq_wb", "PESQ-WB"), ("stoi", "STOI"), ("mel_distance", "mel distance"),
              ("dnsmos_ovrl", "DNSMOS OVRL"), ("speaker_sim", "speaker sim")]


def pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def table(rows: list, reference: dict) -> list:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in rows:
        name = label(r)
        if r.get("default"):
            name = f"**{name}**"
        lines.append(f"| {name} | {nominal(r)} | {fmt(r.get('file_kbps'), 2)} | {fmt(r.get('pesq_wb'), 2)} | "
                     f"{fmt(r.get('stoi'))} | {fmt(r.get('mel_distance'), 2)} | {fmt(r.get('dnsmos_sig'), 2)} | "
                     f"{fmt(r.get('dnsmos_bak'), 2)} | {fmt(r.get('dnsmos_ovrl'), 2)} | {fmt(r.get('speaker_sim'))} | "
                     f"{pct(r.get('verified'))} | {pct(r.get('wer'))} | {pct(r.get('per'))} |")
    if reference:
        # The input against itself: similarity 1 and no error, where that figure is measured at all.
        def itself(key, value):
            return value if any(r.get(key) is not None for r in rows) else "-"
        lines.append(f"| input, uncoded | 256 | - | - | - | - | {fmt(reference['dnsmos_sig'], 2)} | "
                     f"{fmt(reference['dnsmos_bak'], 2)} | {fmt(reference['dnsmos_ovrl'], 2)} | "
                     f"{itself('speaker_sim', '1.000')} | - | {itself('wer', '0%')} | {itself('per', '0%')} |")
    return lines


def spearman(xs: list, ys: list) -> float:
    """Spearman's rank correlation (ties get their mean rank); NaN with fewer than 3 pairs."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None and not math.isnan(x) and not math.isnan(y)]
    if len(pairs) < 3:
        return float("nan")
    from scipy.stats import spearmanr

    rho = spearmanr([x for x, _ in pairs], [y for _, y in pairs]).statistic
    return float(rho)


def correlations(sections: list) -> list:
    """Per set, the rank correlation across coders of each figure with the recognition error
    (WER where the set is English, else PER)."""
    lines = []
    for sec in sections:
        for target in ("wer", "per"):
            rows = [r for r in sec["rows"] if r.get(target) is not None and not math.isnan(r[target])]
            if len(rows) < 3:
                continue
            ys = [r[target] for r in rows]
            rhos = [spearman([r.get(k) for r in rows], ys) for k, _ in PREDICTORS]
            cells = ["-" if math.isnan(rho) else f"{rho:+.2f}" for rho in rhos]
            lines.append(f"| {sec['name']} | {target.upper()} | {len(rows)} | " + " | ".join(cells) + " |")
    if not lines:
        return []
    head = "| set | error | coders | " + " | ".join(n for _, n in PREDICTORS) + " |"
    return ["## Which figure follows recognition", "",
            "Spearman rank correlation across the coders above, of each figure with the recogniser's error "
            "(word error rate on the English set, phone error rate on every set). A figure that predicts "
            "the error well is near -1 if higher is better (PESQ-WB, STOI, DNSMOS, speaker similarity) and "
            "near +1 for the mel distance (lower is better).", "",
            head, "|" + "---|" * (len(PREDICTORS) + 3)] + lines


def markdown(sections: list, *, date: str, command: str, wall: float, jobs: int, coders: str) -> str:
    """results.md: one table per set. Each section: name, source, rows, reference, seconds, notes."""
    lines = [
        "# Quality: the codec beside Opus and Codec2",
        "",
        f"Measured {date} in {wall / 60:.1f} min with {jobs} jobs by:",
        "",
        "```sh",
        command,
        "```",
        "",
        f"Coders: {coders}. How each figure is computed: [README.md](README.md).",
    ]
    for sec in sections:
        rows = sec["rows"]
        lines += ["", f"## {sec['name']}", "", f"{sec['source']}; {sec['seconds']:.0f} s of audio.", ""]
        lines += table(rows, sec["reference"])
        skipped = [f"{label(r)}: PESQ {r['pesq_skipped']}, STOI {r['stoi_skipped']}" for r in rows
                   if r.get("pesq_skipped") or r.get("stoi_skipped")]
        if skipped:
            lines += ["", "Files left out of a mean (PESQ finds no utterance; STOI: an input with no speech): "
                      + "; ".join(skipped) + "."]
        na = [f"{label(r)}: " + ", ".join(f"{n} {r[k]}" for k, n in (("speaker_sim_skipped", "speaker sim"),
                                                                        ("wer_skipped", "WER"), ("per_skipped", "PER"))
                                           if r.get(k))
              for r in rows if r.get("speaker_sim_skipped") or r.get("wer_skipped") or r.get("per_skipped")]
        if na:
            lines += ["", "Files with no figure (n/a: too short or silent, or nothing recognised in the input): "
                      + "; ".join(na) + "."]
        if sec["notes"]:
            lines += [""] + [f"- {n}" for n in sec["notes"]]
    corr = correlations(sections)
    if corr:
        lines += [""] + corr
    if any(r.get("file_kbps") for sec in sections for r in sec["rows"]):
        lines += ["", "![PESQ-WB, DNSMOS OVRL, speaker similarity and recognition error against the bitrate from "
                  "the bytes](rate_quality.png)"]
    return "\n".join(lines) + "\n"


def _series(rows: list) -> list:
    """(name, colour, marker, rows sorted by rate): one line a codec, in the order of `rows`."""
    families = {}
    for r in rows:
        families.setdefault(r["model"] if r["kind"] == "codec" else r["kind"], []).append(r)
    out, packages = [], 0
    for family, rs in families.items():
        if family in FAMILY_STYLE:
            name, colour, marker = FAMILY_STYLE[family]
        else:
            name, (colour, marker) = family, PACKAGE_STYLES[packages % len(PACKAGE_STYLES)]
            packages += 1
        out.append((name, colour, marker, sorted(rs, key=lambda r: r["file_kbps"])))
    return out


PANELS = [("pesq_wb", "PESQ-WB (1 to 4.64)", None), ("dnsmos_ovrl", "DNSMOS OVRL (1 to 5)", "dnsmos_ovrl"),
          ("speaker_sim", "speaker similarity (cosine)", None), ("error", "recognition error", None)]


def plot(sections: list, path: Path) -> bool:
    """One row of panels a set: PESQ-WB, DNSMOS OVRL, speaker similarity, and the
    recogniser's error (WER on an English set, PER elsewhere) against the real rate.
    False, and no plot, when no row has a rate (files decoded elsewhere)."""
    if not any(r.get("file_kbps") for sec in sections for r in sec["rows"]):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    fig, grid = plt.subplots(len(sections), len(PANELS), figsize=(4.2 * len(PANELS), 3.6 * len(sections)),
                             constrained_layout=True, squeeze=False)
    ticks = [1.5, 2, 3, 4, 6, 8, 12, 16]
    for axes, sec in zip(grid, sections):
        rated = [r for r in sec["rows"] if r.get("file_kbps")]
        target = "wer" if any(r.get("wer") is not None for r in rated) else "per"
        for ax, (metric, ylabel, ref_key) in zip(axes, PANELS):
            if metric == "error":
                metric, ylabel = target, ("word" if target == "wer" else "phone") + " error rate"
            for name, colour, marker, rs in _series(rated):
                rs = [r for r in rs if r.get(metric) is not None and not math.isnan(r[metric])]
                if not rs:
                    continue
                xs, ys = [r["file_kbps"] for r in rs], [r[metric] for r in rs]
                ax.plot(xs, ys, marker=marker, color=colour, label=name, linewidth=1.5, markersize=5)
                for r, x, y in zip(rs, xs, ys):
                    tag = f"{r['stages']}" if r["kind"] == "codec" and len(rs) > 1 else (
                        f"{r['kbps']:g}k" if r["kind"] == "opus" else str(r.get("mode", "")))
                    offset = (4, 5) if r["kind"] == "codec2" else (4, -11)
                    if tag:
                        ax.annotate(tag, (x, y), textcoords="offset points", xytext=offset, fontsize=6, color=colour)
            if ref_key and sec["reference"].get(ref_key):
                ax.axhline(sec["reference"][ref_key], color="black", linestyle="--", linewidth=0.8,
                           label="input, uncoded")
            ax.set_xscale("log")
            ax.set_xlim(1.3, 20)
            ax.margins(y=0.08)
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xticklabels([f"{t:g}" for t in ticks])
            ax.set_xlabel("kbps (from the encoded bytes)")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{sec['name']}, {sec['files']} files", fontsize=9)
            ax.grid(True, which="major", alpha=0.3)
        axes[0].legend(loc="best", fontsize=7)
    fig.suptitle("Points labelled with stages, Opus target kbps, Codec2 mode", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
