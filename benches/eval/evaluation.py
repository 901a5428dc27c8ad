"""Every coder on every file, in parallel, and the per-coder means: the part
that benches/eval/run.py and models/recipe/evaluate.py share."""

import concurrent.futures as cf
import datetime
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import coders
import machines
from repo import SR
from inputs import load_reference
from metrics import Dnsmos, measure
from codec_model.metrics import codebook_stats
from codec_model.tokfile import TokFileError, read_tok

# A decoded file this much longer or shorter than its input (seconds, and a share of its
# length) is not taken to be its decoding.
MISMATCH_S, MISMATCH_SHARE = 0.1, 0.1
METRICS = ["pesq_wb", "stoi", "mel_distance", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "speaker_sim"]
LAG_NOTE = 80  # samples (5 ms): a median lag this large means the sample-by-sample figures are off

_DNSMOS = None  # one ONNX session per worker process
_SPEAKER = None  # and one speaker encoder and recogniser
_RECOGNISER = None


def listeners(speaker: bool, words: bool, phones: bool) -> dict:
    """Which of machines.py's figures to measure: speaker similarity, the word
    error rate (English speech only) and the phone error rate."""
    return {"speaker": speaker, "words": words, "phones": phones}


def _worker_init(dnsmos_path, listen=None):
    global _DNSMOS, _SPEAKER, _RECOGNISER
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _DNSMOS = Dnsmos(Path(dnsmos_path)) if dnsmos_path else None
    listen = listen or {}
    _SPEAKER = machines.SpeakerEncoder() if listen.get("speaker") else None
    words, phones = bool(listen.get("words")), bool(listen.get("phones"))
    _RECOGNISER = machines.Recogniser(words=words, phones=phones) if words or phones else None


def evaluate_file(item: dict, rates: list, codec: str) -> dict:
    """Every rate on one file: metrics per rate, the codes of each codec rate, or errors."""
    out = {"id": item["id"], "speaker": item.get("speaker"), "results": {}, "codes": {}, "embeddings": {},
           "errors": []}
    with tempfile.TemporaryDirectory(prefix="codec-eval-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            ref, ref_wav = load_reference(item["path"], tmp)
        except Exception as e:
            out["errors"].append({"file": item["id"], "key": "*", "error": f"cannot read the input: {e}"})
            return out
        if len(ref) == 0:
            out["errors"].append({"file": item["id"], "key": "*", "error": "the input is empty"})
            return out
        seconds = len(ref) / SR
        out["seconds"] = seconds
        if _DNSMOS is not None:
            out["reference"] = {f"dnsmos_{k}": v for k, v in _DNSMOS(ref).items()}
        ref_heard = machines.heard(ref, _SPEAKER, _RECOGNISER)
        out["ref_embedding"] = ref_heard.get("embedding")
        out["heard"] = {k: " ".join(v) for k, v in ref_heard.items() if k != "embedding" and v is not None}
        listener = None
        if _SPEAKER is not None or _RECOGNISER is not None:
            def listener(deg):
                return machines.listen(ref_heard, deg, _SPEAKER, _RECOGNISER)
        for rate in rates:
            key = rate["key"]
            try:
                if rate["kind"] == "given":
                    res = score_given(rate, item, ref, tmp, listener)
                else:
                    res = run_coder(rate, ref, ref_wav, tmp, codec, listener)
                    if "codes" in res:
                        out["codes"][key] = res.pop("codes")
                if "embedding" in res:
                    out["embeddings"][key] = res.pop("embedding")
            except coders.CoderError as e:
                out["errors"].append({"file": item["id"], "key": key, "error": str(e)})
                continue
            except (TokFileError, RuntimeError, OSError, ValueError) as e:
                out["errors"].append({"file": item["id"], "key": key, "error": f"{type(e).__name__}: {e}"})
                continue
            out["results"][key] = res
    return out


def score_given(rate: dict, item: dict, ref: np.ndarray, tmp: Path, listener) -> dict:
    """The figures of a file decoded elsewhere; CoderError when it is missing, unreadable or
    of another length than its input."""
    path = coders.find_decoded(rate, item["id"])
    sub = tmp / "decoded"
    sub.mkdir(exist_ok=True)
    try:
        deg, deg_wav = load_reference(str(path), sub)
    except Exception as e:
        raise coders.CoderError(f"cannot read {path.name}: {e}") from e
    if abs(len(deg) - len(ref)) > MISMATCH_S * SR + MISMATCH_SHARE * len(ref):
        raise coders.CoderError(f"{path.name} lasts {len(deg) / SR:.2f} s, its input {len(ref) / SR:.2f} s: "
                                "not its decoding")
    return measure(ref, Path(deg_wav), _DNSMOS, listener)


def run_coder(rate: dict, ref: np.ndarray, ref_wav: str, tmp: Path, codec: str, listener) -> dict:
    """One coder on one file and the figures of what it decoded (with its codes, for the codec)."""
    ran = coders.run(rate, ref, ref_wav, tmp, codec)
    res = {"encode_s": ran["encode_s"], "decode_s": ran["decode_s"], "bytes": ran["coded"].stat().st_size}
    res["file_kbps"] = res["bytes"] * 8 / (len(ref) / SR) / 1000.0
    if rate["kind"] == "codec":
        tok = read_tok(ran["coded"])
        if tok.stages != rate["stages"] or tok.model_name != rate["model"]:
            raise RuntimeError(f"the .tok holds {tok.model_name} with {tok.stages} stages")
        res["code_kbps"] = tok.code_bitrate / 1000.0
        res["tok_seconds"] = tok.seconds
        res["codes"] = tok.by_codebook()
    res.update(measure(ref, ran["out_wav"], _DNSMOS, listener))
    return res


def evaluate_all(items: list, rates: list, codec: str, dnsmos_path, jobs: int, listen=None) -> "tuple[list, float]":
    """(per-file results in the order of `items`, wall seconds); progress on stderr.
    `listen`: listeners(...), which machine figures to add (default none)."""
    started = time.perf_counter()
    results = []
    init = str(dnsmos_path) if dnsmos_path else None
    if jobs <= 1:
        _worker_init(init, listen)
        for i, item in enumerate(items):
            results.append(evaluate_file(item, rates, codec))
            print(f"  {i + 1}/{len(items)} {item['id']}", file=sys.stderr, flush=True)
    else:
        with cf.ProcessPoolExecutor(jobs, initializer=_worker_init, initargs=(init, listen)) as pool:
            futures = {pool.submit(evaluate_file, item, rates, codec): item for item in items}
            for i, fut in enumerate(cf.as_completed(futures)):
                item = futures[fut]
                try:
                    results.append(fut.result())
                except Exception as e:  # a worker crash: report the file, keep going
                    results.append({"id": item["id"], "results": {}, "codes": {}, "embeddings": {},
                                    "errors": [{"file": item["id"], "key": "*", "error": f"{type(e).__name__}: {e}"}]})
                print(f"  {i + 1}/{len(items)} {item['id']}", file=sys.stderr, flush=True)
    order = {item["id"]: i for i, item in enumerate(items)}
    results.sort(key=lambda f: order[f["id"]])
    return results, time.perf_counter() - started


def nanmean(values) -> float:
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    return float(v.mean()) if len(v) else float("nan")


def summarise(rate: dict, files: list) -> dict:
    """One row of means for a rate; file kbps is total bytes over total seconds, so short
    files weigh by their length (the per-file mean is kept as file_kbps_mean)."""
    got = [(f, f["results"][rate["key"]]) for f in files if rate["key"] in f["results"]]
    row = {k: rate[k] for k in ("key", "kind", "model", "stages", "groups", "default", "mode", "kbps", "dir") if k in rate}
    row["files"] = len(got)
    row["failed"] = sum(1 for f in files for e in f["errors"] if e["key"] in (rate["key"], "*"))
    if not got:
        return row
    total_s = sum(f["seconds"] for f, _ in got)
    row["seconds"] = total_s
    if rate["kind"] != "given":  # a folder of decoded files has no encoded bytes to count
        row["file_kbps"] = sum(r["bytes"] for _, r in got) * 8 / total_s / 1000.0
        row["file_kbps_mean"] = nanmean(r["file_kbps"] for _, r in got)
    if rate["kind"] == "codec":
        row["code_kbps"] = got[0][1]["code_kbps"]
    for m in METRICS:
        if any(m in r for _, r in got):
            row[m] = nanmean(r.get(m) for _, r in got)
    if any("speaker_sim" in r for _, r in got):
        row["speaker_sim_skipped"] = sum(1 for _, r in got if math.isnan(r.get("speaker_sim", math.nan)))
        pairs = [(f.get("speaker"), f.get("ref_embedding"), f["embeddings"].get(rate["key"])) for f, _ in got]
        row["verified"], row["verified_files"] = machines.verification(pairs)
    for kind, name in (("words", "wer"), ("phones", "per")):
        if any(f"{kind}_edits" in r for _, r in got):
            row[name], row[f"{name}_skipped"] = machines.error_rate([r for _, r in got], kind)
    row["pesq_skipped"] = sum(1 for _, r in got if math.isnan(r["pesq_wb"]))
    row["stoi_skipped"] = sum(1 for _, r in got if math.isnan(r["stoi"]))
    lags = [r["lag"] for _, r in got]
    row["lag_median"] = float(np.median(lags))
    row["lag_off"] = sum(1 for x in lags if abs(x) >= LAG_NOTE)
    row["len_mismatch"] = sum(1 for _, r in got if r["len_diff"] != 0)
    if rate["kind"] != "given":
        row["encode_rtf"] = sum(r["encode_s"] for _, r in got) / total_s
        row["decode_rtf"] = sum(r["decode_s"] for _, r in got) / total_s
    return row


def reference_row(files: list) -> dict:
    """The inputs' own DNSMOS: the ceiling the decoded figures are read against."""
    refs = [f["reference"] for f in files if "reference" in f]
    if not refs:
        return {}
    row = {k: nanmean(x[k] for x in refs) for k in ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak")}
    row["files"] = len(refs)
    return row


def codebook_table(rate: dict, files: list):
    chunks = [f["codes"][rate["key"]] for f in files if rate["key"] in f["codes"]]
    if not chunks:
        return None
    codes = np.concatenate(chunks, axis=1)
    stats = codebook_stats(codes.astype(np.int64), rate["codebook_size"])
    g = rate["groups"]
    return [
        {"codebook": j, "stage": j // g, "group": j % g, "used": used, "perplexity": ppl, "codes": int(codes.shape[1])}
        for j, (used, ppl) in enumerate(stats)
    ]


def lag_notes(rows: list) -> list:
    """The codec promises the input's length and no lag; Codec2 only whole frames, so its length is not checked."""
    return [f"{r['key']}: decoded audio lags the input by {r['lag_median']:g} samples (median; {r['lag_off']} files "
            f"off by {LAG_NOTE} or more), length differs on {r['len_mismatch']} files"
            for r in rows
            if abs(r.get("lag_median", 0)) >= LAG_NOTE or (r.get("len_mismatch") and r["kind"] != "codec2")]


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rounded(x, digits=4):
    if isinstance(x, float):
        return None if math.isnan(x) else round(x, digits)
    if isinstance(x, dict):
        return {k: rounded(v, digits) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v, digits) for v in x]
    return x


def json_report(*, date, source, codec, dnsmos_path, items, results, rows, reference, tables, wall, jobs) -> dict:
    """Everything measured, per file too; training_report.py reads `rows`, `source`, `seconds`, `date`
    and `codebooks`."""
    evaluated = [f for f in results if "seconds" in f]
    per_file = [{"id": f["id"], "seconds": f.get("seconds"), "speaker": f.get("speaker"),
                 **({"reference": f["reference"]} if "reference" in f else {}),
                 **({"heard": f["heard"]} if f.get("heard") else {}), "results": f["results"]}
                for f in results]
    return rounded({
        "date": date,
        "source": source,
        "codec": str(codec),
        "dnsmos": str(dnsmos_path) if dnsmos_path else None,
        "files": [item["id"] for item in items],
        "seconds": sum(f["seconds"] for f in evaluated),
        "wall_seconds": wall,
        "jobs": jobs,
        "rows": rows,
        "reference": reference,
        "codebooks": tables,
        "failures": [e for f in results for e in f["errors"]],
        "per_file": per_file,
    })
