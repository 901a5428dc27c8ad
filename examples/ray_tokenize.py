"""Tokenizes a speech corpus with speechcodec on Ray Data, into the token
parts `codec tokenize` writes (and `codec detokenize`, `codec stats` and
`speechcodec.read_parts` read).

    python examples/ray_tokenize.py CORPUS OUT [--part-files 256] [--actors 4]

CORPUS is a folder or a manifest, listed as `codec tokenize` lists it (the
same ids, in the same order); every worker must see its files at the same
paths (a shared file system). Each Ray actor holds one model and encodes a
batch of files at a time; the driver writes the parts in order, one part in
memory at a time, so OUT holds `part-00000.safetensors`/`.jsonl` and so on,
with the codes `codec tokenize` writes for the same files and
`--part-files`. Unlike `codec tokenize`, a file that cannot be decoded (or
is shorter than `--min-seconds`) is left out of the parts and named in
OUT/errors.log, and a rerun starts over.
"""

import argparse
import os
import pathlib

import numpy as np
import ray

import speechcodec


class Tokenizer:
    """One Ray actor: a model, and files to codes with the calls `codec tokenize` makes."""

    def __init__(self, model, stages, min_seconds):
        self.model = speechcodec.Model(model)
        self.stages = stages
        self.min_seconds = min_seconds

    def __call__(self, batch):
        codes, codebooks, errors = [], [], []
        for path in batch["path"]:
            try:
                audio, rate = speechcodec.read_audio(path)
                if len(audio) < self.min_seconds * rate:
                    raise ValueError(f"too short ({len(audio) / rate:.3f} s < {self.min_seconds} s)")
                c = self.model.encode(audio, rate, self.stages)
                codes.append(c.tobytes())
                codebooks.append(c.shape[1])
                errors.append("")
            except (speechcodec.CodecError, ValueError) as e:
                codes.append(b"")
                codebooks.append(0)
                errors.append(str(e))
        return {
            "id": batch["id"],
            "path": batch["path"],
            "codes": np.array(codes, dtype=object),
            "codebooks": np.array(codebooks),
            "error": np.array(errors, dtype=object),
        }


def tokenize(corpus, out, model="default", stages=None, part_files=256, actors=2, min_seconds=0.1):
    """Tokenizes `corpus` into parts in `out`; returns the failures as (path, reason)."""
    entries = speechcodec.list_inputs(corpus)
    # Entries come back in input order, so part k holds entries
    # k * part_files onwards, as in `codec tokenize`.
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ds = ray.data.from_items([{"id": i, "path": os.fspath(p)} for i, p in entries])
    ds = ds.map_batches(
        Tokenizer,
        fn_constructor_kwargs={"model": model, "stages": stages, "min_seconds": min_seconds},
        concurrency=actors,
        batch_size=8,
    )
    driver_model = speechcodec.Model(model)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    part, index, failed = [], 0, []

    def write():
        nonlocal part, index
        if part:
            speechcodec.write_part(out, f"part-{index:05}", driver_model, part)
        part, index = [], index + 1

    for n, row in enumerate(ds.iter_rows()):
        if n and n % part_files == 0:
            write()
        if row["error"]:
            failed.append((row["path"], row["error"]))
            continue
        part.append((row["id"], np.frombuffer(row["codes"], dtype=np.uint16).reshape(-1, row["codebooks"])))
    write()
    log = out / "errors.log"
    if failed:
        log.write_text("".join(f"{p}\t{e}\n" for p, e in failed))
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", help="a folder of audio files or a manifest")
    ap.add_argument("out", help="folder for the token parts")
    ap.add_argument("--model", default="default", help="a shipped model's name or a package folder")
    ap.add_argument("--stages", type=int, help="stages of codes (default: the model's)")
    ap.add_argument("--part-files", type=int, default=256, help="files per part")
    ap.add_argument("--actors", type=int, default=2, help="Ray actors, one model each")
    ap.add_argument("--min-seconds", type=float, default=0.1, help="skip shorter files")
    ap.add_argument("--address", help="a Ray cluster's address (default: start a local Ray)")
    args = ap.parse_args()
    ray.init(address=args.address)
    failed = tokenize(args.corpus, args.out, args.model, args.stages, args.part_files, args.actors, args.min_seconds)
    print(f"tokenized into {args.out}; {len(failed)} files failed")


if __name__ == "__main__":
    main()
