"""The evaluation's outputs for people: the markdown table (results.md) and the
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
    if any(r["kind"] == "codec2" for r in rows):
        version = _first_line(["dpkg-query", "-W", "-f", "${Version}", "codec2"])
        parts.append(f"codec2 {version}" if version else "codec2")
    return "; ".join(parts)


def nominal(row: dict) -> str:
    return f"{row['kbps']:.2f}" if row["kind"] == "codec" else f"{row['kbps']:g}"


def markdown(rows: list, reference: dict, *, source: str, seconds: float, date: str, command: str,
             wall: float, jobs: int, coders: str, notes: list) -> str:
    lines = [
        "# Quality: the codec beside Opus and Codec2",
        "",
        f"{source}; {seconds:.0f} s of audio. Measured {date} in {wall / 60:.1f} min with {jobs} jobs by:",
        "",
        "```sh",
        command,
        "```",
        "",
        f"Coders: {coders}. How each figure is computed: [README.md](README.md).",
        "",
        "| codec | kbps (nominal) | kbps (bytes) | PESQ-WB | STOI | mel distance | DNSMOS SIG | DNSMOS BAK | DNSMOS OVRL |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = label(r)
        if r.get("default"):
            name = f"**{name}**"
        lines.append(f"| {name} | {nominal(r)} | {fmt(r.get('file_kbps'), 2)} | {fmt(r.get('pesq_wb'), 2)} | "
                     f"{fmt(r.get('stoi'))} | {fmt(r.get('mel_distance'), 2)} | {fmt(r.get('dnsmos_sig'), 2)} | "
                     f"{fmt(r.get('dnsmos_bak'), 2)} | {fmt(r.get('dnsmos_ovrl'), 2)} |")
    if reference:
        lines.append(f"| input, uncoded | 256 | - | - | - | - | {fmt(reference['dnsmos_sig'], 2)} | "
                     f"{fmt(reference['dnsmos_bak'], 2)} | {fmt(reference['dnsmos_ovrl'], 2)} |")
    lines += ["", "![PESQ-WB and DNSMOS OVRL against the bitrate from the bytes](rate_quality.png)"]
    skipped = [f"{label(r)}: PESQ {r['pesq_skipped']}, STOI {r['stoi_skipped']}" for r in rows
               if r.get("pesq_skipped") or r.get("stoi_skipped")]
    if skipped:
        lines += ["", "Files left out of a mean (PESQ finds no utterance; STOI: an input with no speech): "
                  + "; ".join(skipped) + "."]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
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


def plot(rows: list, reference: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    panels = [("pesq_wb", "PESQ-WB (1 to 4.64)", None), ("dnsmos_ovrl", "DNSMOS OVRL (1 to 5)", "dnsmos_ovrl")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), constrained_layout=True)
    rated = [r for r in rows if r.get("file_kbps")]
    ticks = [1.5, 2, 3, 4, 6, 8, 12, 16]
    for ax, (metric, ylabel, ref_key) in zip(axes, panels):
        for name, colour, marker, rs in _series(rated):
            rs = [r for r in rs if r.get(metric) is not None and not math.isnan(r[metric])]
            if not rs:
                continue
            xs, ys = [r["file_kbps"] for r in rs], [r[metric] for r in rs]
            ax.plot(xs, ys, marker=marker, color=colour, label=name, linewidth=1.5, markersize=6)
            for r, x, y in zip(rs, xs, ys):
                tag = f"{r['stages']}" if r["kind"] == "codec" and len(rs) > 1 else (
                    f"{r['kbps']:g}k" if r["kind"] == "opus" else str(r.get("mode", "")))
                # Codec2 sits just above the models at the same rates: its labels go above, theirs below.
                offset = (4, 5) if r["kind"] == "codec2" else (4, -11)
                if tag:
                    ax.annotate(tag, (x, y), textcoords="offset points", xytext=offset, fontsize=7, color=colour)
        if ref_key and reference.get(ref_key):
            ax.axhline(reference[ref_key], color="black", linestyle="--", linewidth=0.8, label="input, uncoded")
        ax.set_xscale("log")
        ax.set_xlim(1.3, 20)
        ax.margins(y=0.08)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{t:g}" for t in ticks])
        ax.set_xlabel("kbps (from the encoded bytes)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes:
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title + "; points labelled with stages, Opus target kbps, Codec2 mode", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
