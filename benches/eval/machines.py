"""What machines hear in a decoded file beside its input: who is speaking (a
speaker encoder's embeddings) and what is said (a recogniser's words and
phones). The models ship inside their wheels (resemblyzer's GE2E encoder,
pocketsphinx's US English acoustic model, dictionary and language models):
nothing is fetched at run time. README.md defines each figure."""

import importlib.util
import os
import warnings

import numpy as np

from repo import SR

# A shorter input (after the encoder's own silence trimming) gets no speaker
# embedding: its one window would be mostly padding.
MIN_SPEAKER_S = 0.5
# A shorter input is not given to the recogniser.
MIN_RECOGNISER_S = 0.3
SILENT_DBFS = -60.0


def _loudest_dbfs(x: np.ndarray, frame: int = 320) -> float:
    n = len(x) // frame
    if n == 0:
        return -120.0
    rms = np.sqrt(np.mean(np.asarray(x[: n * frame], dtype=np.float64).reshape(n, frame) ** 2, axis=1))
    return float(20 * np.log10(rms.max() + 1e-12))


def missing(speaker: bool, recognition: bool) -> list:
    """The packages the asked-for figures need that are not installed."""
    need = (["resemblyzer"] if speaker else []) + (["pocketsphinx"] if recognition else [])
    return [n for n in need if importlib.util.find_spec(n) is None]


class SpeakerEncoder:
    """resemblyzer's VoiceEncoder on CPU, with its own preprocessing (volume
    normalisation, long silences trimmed by WebRTC VAD), one thread."""

    def __init__(self):
        import torch

        torch.set_num_threads(1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # resemblyzer's webrtcvad imports pkg_resources, which warns
            from resemblyzer import VoiceEncoder, preprocess_wav
        self._preprocess = preprocess_wav
        self._encoder = VoiceEncoder("cpu", verbose=False)

    def __call__(self, audio: np.ndarray) -> "np.ndarray | None":
        """The unit-norm embedding (256 floats), or None when there is too little speech for one."""
        audio = np.asarray(audio, dtype=np.float32)
        if len(audio) < MIN_SPEAKER_S * SR or _loudest_dbfs(audio) < SILENT_DBFS:
            return None
        wav = self._preprocess(audio, source_sr=SR)
        if len(wav) < MIN_SPEAKER_S * SR:
            return None
        return np.asarray(self._encoder.embed_utterance(wav), dtype=np.float32)


class Recogniser:
    """pocketsphinx 5 with its US English models: `words` decodes with the word
    language model, `phones` with the phone language model (allphone search),
    which needs no language of the speech. Each file is decoded whole, and the
    feature state (cepstral mean) is reset before it: without the reset the same
    file decoded again after another gave other phones. The word search runs
    with narrower beams than pocketsphinx's defaults and no second (flat) pass,
    which keeps a full evaluation run within an hour on two cores."""

    FILLERS = ("<", "[", "+")

    def __init__(self, words: bool = True, phones: bool = True):
        from pocketsphinx import Decoder, get_model_path

        model = os.path.join(get_model_path(), "en-us")
        common = {"hmm": os.path.join(model, "en-us"), "samprate": SR, "loglevel": "FATAL"}
        self.has_words, self.has_phones = words, phones
        self._words = Decoder(lm=os.path.join(model, "en-us.lm.bin"), dict=os.path.join(model, "cmudict-en-us.dict"),
                              fwdflat=False, beam=1e-40, wbeam=1e-32, **common) if words else None
        self._phones = Decoder(allphone=os.path.join(model, "en-us-phone.lm.bin"), lm=None, **common) if phones else None

    @staticmethod
    def _decode(decoder, audio: np.ndarray) -> "list | None":
        audio = np.asarray(audio, dtype=np.float32)
        if len(audio) < MIN_RECOGNISER_S * SR or _loudest_dbfs(audio) < SILENT_DBFS:
            return None
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).round().astype("<i2").tobytes()
        decoder.reinit_feat()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        tokens = hyp.hypstr.split() if hyp is not None else []
        # Silence, noise and alternate pronunciations are not words or phones.
        return [t.split("(")[0].lower() for t in tokens if not t.startswith(Recogniser.FILLERS) and t != "SIL"]

    def words(self, audio: np.ndarray) -> "list | None":
        return None if self._words is None else self._decode(self._words, audio)

    def phones(self, audio: np.ndarray) -> "list | None":
        return None if self._phones is None else self._decode(self._phones, audio)


def edit_distance(ref: list, hyp: list) -> int:
    """Levenshtein distance between two token lists (substitutions, insertions, deletions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def listen(ref_heard: dict, deg: np.ndarray, speaker, recogniser) -> dict:
    """The decoded file's figures against what the input gave (`heard(ref)`):
    speaker similarity, and the edits and length of the words and phones.
    A figure the input or output is too short or silent for is NaN (n/a)."""
    out = {}
    if speaker is not None:
        emb = speaker(deg)
        ref_emb = ref_heard.get("embedding")
        out["embedding"] = emb
        out["speaker_sim"] = float("nan") if emb is None or ref_emb is None else cosine(ref_emb, emb)
    if recogniser is not None:
        for kind in ("words", "phones"):
            if kind not in ref_heard:
                continue
            ref_tokens = ref_heard[kind]
            if not ref_tokens:  # input too short or silent, or nothing recognised in it: no error rate
                out[f"{kind}_edits"], out[f"{kind}_ref"] = float("nan"), 0
                continue
            tokens = getattr(recogniser, kind)(deg)
            if tokens is None:
                out[f"{kind}_edits"], out[f"{kind}_ref"] = float("nan"), len(ref_tokens)
                continue
            out[f"{kind}_edits"], out[f"{kind}_ref"] = edit_distance(ref_tokens, tokens), len(ref_tokens)
    return out


def heard(ref: np.ndarray, speaker, recogniser) -> dict:
    """What the models get from the input itself, the reference for `listen`."""
    out = {}
    if speaker is not None:
        out["embedding"] = speaker(ref)
    if recogniser is not None:
        if recogniser.has_words:
            out["words"] = recogniser.words(ref)
        if recogniser.has_phones:
            out["phones"] = recogniser.phones(ref)
    return out


def error_rate(results: list, kind: str) -> "tuple[float, int]":
    """(edits over the input's tokens, summed over the files that have both; files
    left out). `results` are the per-file dicts of one coder."""
    edits = total = 0
    left_out = 0
    for r in results:
        e, n = r.get(f"{kind}_edits"), r.get(f"{kind}_ref", 0)
        if e is None:
            continue
        if isinstance(e, float) and np.isnan(e) or not n:
            left_out += 1
            continue
        edits += e
        total += n
    return (edits / total if total else float("nan")), left_out


def verification(pairs: list) -> "tuple[float, int]":
    """The share of decoded utterances closer (cosine) to their own input than to
    every input of another speaker; `pairs` are (speaker, input embedding,
    decoded embedding), None where there is none. (share, utterances counted);
    NaN with 0 when the set holds fewer than two speakers."""
    refs = [(s, r) for s, r, _ in pairs if r is not None]
    won = counted = 0
    for s, r, d in pairs:
        if r is None or d is None:
            continue
        others = [o for t, o in refs if t != s]
        if not others:
            continue
        counted += 1
        own = cosine(r, d)
        won += all(own > cosine(o, d) for o in others)
    return (won / counted if counted else float("nan")), counted
