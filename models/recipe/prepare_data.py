"""Fetch and prepare the training speech from Debian packages.

Downloads the packages with `apt-get download`, extracts them, decodes every
speech file to 16 kHz mono 16-bit WAV with ffmpeg (asterisk's raw G.722 with
`-f g722`), drops silence-only and very short files, and writes deterministic
manifests: train.jsonl, valid.jsonl (a hash-chosen 2% of the training
sources), dev.jsonl (asterisk Russian, never trained on) and dev2.jsonl (the
Greek volunteer of tuxpaint's stamp descriptions: one full-band voice, never
trained on) and dev_en.jsonl (drascula's English dub: acted dialogue of
about ten voices, never trained on; see DEV_EN below).

Russian speech from any package is kept out of train and valid so that the dev
set stays an unseen language with unseen voices; Greek likewise for dev2. The
full-band sources (DATA_SURVEY.md tier A: tuxpaint, ktuberling) are amateur
recordings: byte-identical copies are dropped (md5), and so are clips
recorded below 16 kHz or whose noise floor is too close to their speech.
The small full-band sources are hedgewars' voice packs and megaglest's unit
acknowledgements.

Tier B (`--only tierb`): tierb.jsonl, Beneath a Steel Sky's speech (about
2 h of acted English dialogue, many voices, 11,025 Hz), which train.py adds
to the training audio only when asked (`--add-split tierb`).

Usage: python prepare_data.py [--out DIR]   (default: $CODEC_DATA or ~/.cache/codec-data)
       python prepare_data.py --only english   (dev_en.jsonl alone)
       python prepare_data.py --only tierb     (tierb.jsonl alone)
"""

import argparse
import concurrent.futures as cf
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, sosfilt

import bass_speech

SAMPLE_RATE = 16000
MIN_SECONDS = 0.5
# A file whose loudest 20 ms frame is below this is taken as silence.
SILENCE_DBFS = -45.0
# Full-band sources only (amateur microphones): the loud frames (90th
# percentile of 20 ms frame levels) must stand this far above the quiet ones
# (10th percentile), measured above 100 Hz so that rumble counts as noise only
# where it reaches the speech band.
MIN_SNR_DB = 25.0
FULLBAND_SOURCES = {"tuxpaint", "ktuberling", "hedgewars", "megaglest"}
# The second dev set: one full-band voice (Serafeim Kyriaki, credited for all
# of tuxpaint's Greek descriptions). No other Greek is trained on, so no
# training file can hold that voice.
DEV2 = ("tuxpaint", "el")
# The English held-out set (dev_en), for the recogniser's word error rate:
# Drascula's English dub (DATA_SURVEY.md tier B), acted dialogue of about ten
# voices at 11,025 Hz. Its audio, in any language, never reaches training:
# English goes to dev_en, any other dub is excluded.
DEV_EN = "drascula"
DEV_EN_PACKAGES = ["drascula"]
DRASCULA_RATE = 11025
# Half the dub's files, chosen by the hash of their id: about 24 of its 48
# minutes, the same files on every machine.
DEV_EN_SHARE = 2

# The dev sets: what measures the codec, never trained on (dedupe keeps their copy).
DEV_SETS = ("dev", "dev2", "dev_en")
# The engine plays only part of English 3.ALS (the rest is long silence); it
# is left out rather than cut by offsets we cannot check.
DRASCULA_SKIP = {"en/3.ALS"}
# Tier B: Beneath a Steel Sky (see bass_speech.py). Its band ends at 5.5 kHz;
# at about a fifth of the training audio it stays under the survey's cap on
# band-limited audio (30-40 % of a batch), so it needs no loss weighting.
TIER_B = "bass"
TIER_B_PACKAGES = ["beneath-a-steel-sky"]

PACKAGES = [
    "asterisk-core-sounds-en-g722",
    "asterisk-core-sounds-es-g722",
    "asterisk-core-sounds-fr-g722",
    "asterisk-core-sounds-it-g722",
    "asterisk-core-sounds-ru-g722",
    "fillets-ng-data",
    "fillets-ng-data-cs",
    "fillets-ng-data-nl",
    "klettres-data",
    "tuxpaint-stamps-default",
    "ktuberling-data",
    "hedgewars-data",
    "megaglest-data",
]
# hedgewars voice packs: the language of the ones not in English; Russian and
# the Russian-accented Polish pack are kept out like all Russian, the robot
# (processed) and the singer (sung) are not speech to learn from.
HEDGEWARS_LANGS = {"Default_es": "es", "Default_pl": "pl", "Default_uk": "uk",
                   "Russian": "ru", "Default_ru": "ru", "Russian_pl": "ru"}
HEDGEWARS_SKIP = {"Robot", "Singer"}
# megaglest units that answer in a human voice; the animals and creatures
# (cow, dragon, golem, daemon, ...) moo, roar or growl.
MEGAGLEST_VOICES = {"archer", "archmage", "axe_thrower", "battlemage", "cudgel", "genie", "guard", "horseman",
                    "initiate", "princess", "shaman", "spearman", "stickfighter", "summoner", "swordman",
                    "technician", "valkyrie", "warrior", "worker"}
FILLETS_SPEECH_LANGS = {"en", "cs", "nl"}


def default_out() -> Path:
    env = os.environ.get("CODEC_DATA")
    return Path(env) if env else Path.home() / ".cache" / "codec-data"


def fetch_debs(debs: Path, packages=PACKAGES) -> None:
    debs.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not list(debs.glob(f"{p}_*.deb"))]
    if missing:
        print(f"downloading {len(missing)} packages", flush=True)
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True)


def extract(debs: Path, root: Path) -> None:
    # One marker per package, so a package added to the list is extracted on the next run.
    done = root / ".extracted.d"
    done.mkdir(parents=True, exist_ok=True)
    for deb in sorted(debs.glob("*.deb")):
        marker = done / deb.name
        if not marker.exists():
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
            marker.touch()


def classify(path: Path, root: Path):
    """Return (source, language, speaker) for a speech file, or None to skip it."""
    rel = path.relative_to(root).parts
    if "drascula" in rel and path.suffix.upper() == ".ALS":
        # NAME.ALS: the letters name the speaker (none: the hero); S<n> are sound effects.
        lang = path.parent.name
        speaker = re.match(r"[A-Za-z]*", path.stem).group(0).upper()
        if speaker == "S" or f"{lang}/{path.name}" in DRASCULA_SKIP:
            return None
        return DEV_EN, lang, f"drascula-{lang}-{speaker or 'hero'}"
    if path.suffix == ".g722" and "asterisk" in rel:
        voice = rel[rel.index("sounds") + 1]  # e.g. ru_RU_f_IvrvoiceRU
        return "asterisk", voice.split("_")[0], voice
    if path.suffix == ".ogg" and "fillets-ng" in rel:
        lang = path.parent.name
        if lang not in FILLETS_SPEECH_LANGS:
            return None  # music and sound effects
        # Names look like `vit-m-hlava.ogg`: the level, then the speaking fish.
        speaker = path.stem.split("-")[1] if "-" in path.stem else "x"
        return "fillets", lang, f"fillets-{lang}-{speaker}"
    if path.suffix == ".ogg" and "klettres" in rel:
        lang = rel[rel.index("klettres") + 1]
        return "klettres", lang.split("_")[0], f"klettres-{lang}"
    if "tuxpaint" in rel and "stamps" in rel and path.suffix in (".ogg", ".wav"):
        # NAME_desc_LANG.ogg (no suffix: English); the rest are sound effects.
        stem = path.name.split(".")[0]
        if "_desc" not in stem:
            return None
        lang = stem.rsplit("_desc", 1)[1].lstrip("_") or "en"
        return "tuxpaint", lang.split("_")[0], f"tuxpaint-{lang}"
    if "ktuberling" in rel and "sounds" in rel and path.suffix in (".ogg", ".wav", ".opus"):
        lang = path.parent.name  # ca, sr@latin, ...
        return "ktuberling", lang.split("@")[0], f"ktuberling-{lang}"
    if "hedgewars" in rel and "voices" in rel and path.suffix == ".ogg":
        pack = path.parent.name
        if pack in HEDGEWARS_SKIP:
            return None
        return "hedgewars", HEDGEWARS_LANGS.get(pack, "en"), f"hedgewars-{pack}"
    if "megaglest" in rel and path.suffix == ".wav" and ("_select" in path.stem or "_ack" in path.stem):
        # Unit acknowledgements (archer_select3.wav); the rest is battle noise and music.
        unit = path.stem.split("_select")[0].split("_ack")[0]
        return ("megaglest", "en", f"megaglest-{unit}") if unit in MEGAGLEST_VOICES else None
    return None


def decode(src: Path, dst: Path) -> np.ndarray:
    if src.suffix.upper() == ".ALS":
        # Drascula's speech: a 32-byte header, unsigned 8-bit mono PCM, 64 bytes of trailer.
        return decode_u8(src.read_bytes()[32:-64], DRASCULA_RATE, dst)
    if src.suffix == ".g722":
        return _ffmpeg(["-f", "g722", "-i", str(src)], dst)
    return _ffmpeg(["-i", str(src)], dst)


def decode_u8(raw: bytes, rate: int, dst: Path) -> np.ndarray:
    """Unsigned 8-bit mono PCM at `rate` (the games' speech) to a 16 kHz WAV."""
    return _ffmpeg(["-f", "u8", "-ar", str(rate), "-ac", "1", "-i", "pipe:0"], dst, raw)


def _ffmpeg(source_args, dst: Path, raw: bytes = None) -> np.ndarray:
    # Through a temporary name: an interrupted run must not leave a truncated
    # file that the next run would take as decoded.
    tmp = dst.with_name(dst.stem + ".part.wav")
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *source_args]
    cmd += ["-ac", "1", "-ar", str(SAMPLE_RATE), "-sample_fmt", "s16", str(tmp)]
    subprocess.run(cmd, check=True, input=raw)
    os.replace(tmp, dst)
    audio, rate = sf.read(dst, dtype="float32")
    assert rate == SAMPLE_RATE
    return audio


def loudest_frame_dbfs(audio: np.ndarray) -> float:
    hop = SAMPLE_RATE // 50
    n = len(audio) // hop
    if n == 0:
        return -120.0
    frames = audio[: n * hop].reshape(n, hop)
    rms = np.sqrt(np.mean(frames**2, axis=1) + 1e-12)
    return float(20 * np.log10(rms.max()))


def native_rate(src: Path) -> int:
    try:
        return sf.info(str(src)).samplerate
    except RuntimeError:  # a container libsndfile cannot read: ask ffprobe
        out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                              "stream=sample_rate", "-of", "csv=p=0", str(src)],
                             capture_output=True, text=True, check=True).stdout
        return int(out.split()[0])


def snr_db(audio: np.ndarray) -> "tuple[float, float]":
    """(speech minus noise level, noise level) in dB, from the spread of 20 ms
    frame levels above 100 Hz: these clips are single words with a little
    room around them, so the quiet frames are the microphone's floor."""
    # An IIR high-pass, not a brick wall over the whole file: that would ring
    # the speech out into the pauses and raise the floor it measures.
    x = sosfilt(butter(4, 100, "highpass", fs=SAMPLE_RATE, output="sos"), audio.astype(np.float64))
    hop = SAMPLE_RATE // 50
    n = len(x) // hop
    level = 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    floor = float(np.percentile(level, 10))
    return float(np.percentile(level, 90)) - floor, floor


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def stable_id(rel: str) -> str:
    return hashlib.sha1(rel.encode()).hexdigest()[:12]


def wav_path(data: Path, entry) -> Path:
    """Where a manifest entry's audio is. Built from the id (checked), never
    from the entry's "path": a manifest is only text, and may come from anyone."""
    uid = entry.get("id") if isinstance(entry, dict) else None
    if not isinstance(uid, str) or len(uid) != 12 or any(c not in "0123456789abcdef" for c in uid):
        raise ValueError(f"bad id {uid!r} in a manifest entry (12 hex digits expected)")
    return data / "wav" / f"{uid}.wav"


def process(item, root: Path, wav_dir: Path):
    path, (source, lang, speaker) = item
    rel = str(path.relative_to(root))
    uid = stable_id(rel)
    dst = wav_dir / f"{uid}.wav"
    try:
        audio = decode(path, dst) if not dst.exists() else sf.read(dst, dtype="float32")[0]
    except (subprocess.CalledProcessError, RuntimeError) as e:
        return None, f"{rel}: decode failed: {e}"
    seconds = len(audio) / SAMPLE_RATE
    if seconds < MIN_SECONDS:
        dst.unlink(missing_ok=True)
        return None, f"{rel}: too short ({seconds:.2f} s)"
    if loudest_frame_dbfs(audio) < SILENCE_DBFS:
        dst.unlink(missing_ok=True)
        return None, f"{rel}: silence"
    extra = {}
    if source in FULLBAND_SOURCES:
        rate = native_rate(path)
        if rate < SAMPLE_RATE:
            dst.unlink(missing_ok=True)
            return None, f"{rel}: recorded at {rate} Hz, not full band"
        snr, floor = snr_db(audio)
        if snr < MIN_SNR_DB:
            dst.unlink(missing_ok=True)
            return None, f"{rel}: SNR {snr:.1f} dB (floor {floor:.1f} dBFS)"
        extra = {"rate": rate, "snr_db": round(snr, 1)}
    entry = {
        "id": uid,
        "path": str(dst.relative_to(wav_dir.parent)),
        "source": source,
        "lang": lang,
        "speaker": speaker,
        "seconds": round(seconds, 3),
        "origin": rel,
        **extra,
    }
    return entry, None


def held_out(source: str, lang: str):
    """The dev set a language's files go to, "excluded", or None (training)."""
    if source == DEV_EN:
        return "dev_en" if lang == "en" else "excluded"
    if lang == "ru":
        return "dev" if source == "asterisk" else "excluded"
    if lang == DEV2[1]:
        return "dev2" if source == DEV2[0] else "excluded"
    return None


def split_of(entry) -> str:
    held = held_out(entry["source"], entry["lang"])
    if held:
        return held
    h = int(hashlib.sha1(entry["id"].encode()).hexdigest(), 16)
    return "valid" if h % 50 == 0 else "train"


def dedupe(items, root: Path):
    """Keep one file of each set of byte-identical files. The copy kept is the
    one whose split is most restricted (excluded, then a dev set, then
    training), so a held-out clip never also reaches training under another
    name; then the first by path. Returns (kept items, [(dropped, kept)])."""
    rank = {"excluded": 0, **{name: 1 for name in DEV_SETS}, None: 2}
    groups = {}
    for path, info in items:
        if info[0] in FULLBAND_SOURCES:
            groups.setdefault(md5_of(path), []).append((path, info))
    dropped, drop = [], set()
    for copies in groups.values():
        copies.sort(key=lambda it: (rank[held_out(it[1][0], it[1][1])], str(it[0].relative_to(root))))
        for path, _ in copies[1:]:
            drop.add(path)
            dropped.append((str(path.relative_to(root)), str(copies[0][0].relative_to(root))))
    return [it for it in items if it[0] not in drop], sorted(dropped)


def write_manifest(out: Path, name: str, entries: list) -> None:
    # Atomic: other processes (a training run starting) may read these meanwhile.
    tmp = out / f"{name}.jsonl.tmp"
    tmp.write_text("".join(json.dumps(e) + "\n" for e in entries))
    os.replace(tmp, out / f"{name}.jsonl")
    hours = sum(e["seconds"] for e in entries) / 3600
    print(f"{name}: {len(entries)} files, {hours:.2f} h")


def in_dev_en_share(uid: str) -> bool:
    return int(hashlib.sha1(uid.encode()).hexdigest(), 16) % DEV_EN_SHARE == 0


def prepare_english(out: Path, jobs: int) -> list:
    """dev_en.jsonl: the share of Drascula's English dub that passes the usual
    filters (length, silence). Returns the skip reasons."""
    fetch_debs(out / "debs", DEV_EN_PACKAGES)
    extract(out / "debs", out / "x")
    root = out / "x"
    wav_dir = out / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for path in sorted((root / "usr" / "share" / "scummvm" / "drascula" / "en").glob("*")):
        info = classify(path, root) if path.is_file() and not path.is_symlink() else None
        if info is not None and in_dev_en_share(stable_id(str(path.relative_to(root)))):
            items.append((path, info))
    entries, skipped = [], []
    with cf.ThreadPoolExecutor(jobs) as pool:
        for entry, why in pool.map(lambda it: process(it, root, wav_dir), items):
            if entry:
                entries.append(entry)
            else:
                skipped.append(why)
    entries = [e for e in sorted(entries, key=lambda e: e["id"]) if split_of(e) == "dev_en"]
    write_manifest(out, "dev_en", entries)
    print(f"  dev_en voices: {len({e['speaker'] for e in entries})}")
    return skipped


def bass_entry(clip, wav_dir: Path):
    """(manifest entry or None, why skipped) for one Beneath a Steel Sky speech clip."""
    number, pcm = clip
    rel = f"beneath-a-steel-sky/sky.dsk/{number}"
    uid = stable_id(rel)
    dst = wav_dir / f"{uid}.wav"
    try:
        audio = decode_u8(pcm, bass_speech.RATE, dst) if not dst.exists() else sf.read(dst, dtype="float32")[0]
    except (subprocess.CalledProcessError, RuntimeError) as e:
        return None, f"{rel}: decode failed: {e}"
    seconds = len(audio) / SAMPLE_RATE
    if seconds < MIN_SECONDS or loudest_frame_dbfs(audio) < SILENCE_DBFS:
        dst.unlink(missing_ok=True)
        return None, f"{rel}: too short or silent ({seconds:.2f} s)"
    return {"id": uid, "path": str(dst.relative_to(wav_dir.parent)), "source": TIER_B, "lang": "en",
            "speaker": TIER_B, "seconds": round(seconds, 3), "origin": rel, "rate": bass_speech.RATE}, None


def prepare_tier_b(out: Path, jobs: int) -> list:
    """tierb.jsonl: every Beneath a Steel Sky speech clip that passes the usual
    filters (length, silence). The game names no speaker per clip, so the
    entries share one speaker label. Returns the skip reasons."""
    fetch_debs(out / "debs", TIER_B_PACKAGES)
    extract(out / "debs", out / "x")
    game = out / "x" / "usr" / "share" / "scummvm" / "beneath-a-steel-sky"
    wav_dir = out / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    clips = bass_speech.speech_clips(game / "sky.dnr", game / "sky.dsk")
    entries, skipped = [], []
    with cf.ThreadPoolExecutor(jobs) as pool:
        # In batches, so that only a batch of unpacked clips is held at once.
        while batch := list(itertools.islice(clips, 64)):
            for entry, why in pool.map(lambda c: bass_entry(c, wav_dir), batch):
                if entry:
                    entries.append(entry)
                else:
                    skipped.append(why)
            print(f"  tier B: {len(entries)} clips", flush=True)
    write_manifest(out, "tierb", sorted(entries, key=lambda e: e["id"]))
    return skipped


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=default_out(), help="data folder (outside the work tree)")
    ap.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2) * 2)
    ap.add_argument("--only", choices=["english", "tierb"],
                    help="prepare only this set (english: dev_en.jsonl; tierb: tierb.jsonl)")
    args = ap.parse_args()
    out: Path = args.out
    if args.only == "english":
        skipped = prepare_english(out, args.jobs)
        print(f"skipped {len(skipped)} files of the English set")
        return 0
    if args.only == "tierb":
        skipped = prepare_tier_b(out, args.jobs)
        print(f"skipped {len(skipped)} clips of tier B")
        return 0
    fetch_debs(out / "debs")
    extract(out / "debs", out / "x")
    wav_dir = out / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)

    root = out / "x"
    items = []
    for path in sorted(root.rglob("*")):
        if path.suffix in (".g722", ".ogg", ".wav", ".opus") and path.is_file():
            info = classify(path, root)
            if info is not None:
                items.append((path, info))
    print(f"{len(items)} candidate speech files", flush=True)
    items, dropped = dedupe(items, root)
    print(f"{len(items)} after dropping {len(dropped)} byte-identical copies", flush=True)

    entries, skipped = [], []
    with cf.ThreadPoolExecutor(args.jobs) as pool:
        for i, (entry, why) in enumerate(pool.map(lambda it: process(it, root, wav_dir), items)):
            if entry:
                entries.append(entry)
            else:
                skipped.append(why)
            if (i + 1) % 500 == 0:
                print(f"  {i + 1}/{len(items)}", flush=True)

    splits = {"train": [], "valid": [], "dev": [], "dev2": [], "dev_en": [], "excluded": []}
    for e in sorted(entries, key=lambda e: e["id"]):
        splits[split_of(e)].append(e)
    for name in ("train", "valid", "dev", "dev2"):
        write_manifest(out, name, splits[name])
    for source in sorted({e["source"] for e in splits["train"]}):
        part = [e for e in splits["train"] if e["source"] == source]
        print(f"  train from {source}: {len(part)} files, {sum(e['seconds'] for e in part) / 3600:.2f} h")
    print(f"excluded (Russian outside dev, Greek outside dev2, Drascula outside dev_en): {len(splits['excluded'])} files")
    skipped += [f"{rel}: same bytes as {kept}" for rel, kept in dropped]
    skipped += prepare_english(out, args.jobs)
    (out / "skipped.txt").write_text("\n".join(skipped) + "\n")
    print(f"skipped {len(skipped)} files (see {out / 'skipped.txt'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
