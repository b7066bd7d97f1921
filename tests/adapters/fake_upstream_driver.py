"""A stand-in upstream driver for the subprocess-protocol tests: speaks the real protocol, fails on request.

Behaviour comes from the manifest's settings: sleep_s (hang -> time-out), exit_after (crash with code 3 after N studies),
fail_ids (raise for those studies), skip_ids (write nothing for them), bad_ids (write an out-of-range image).
Two stages, like LLM-CXR: "encode" leaves an intermediate in scratch/, "decode" turns it into outputs.
"""
import os
import sys
import time

import numpy as np

from _driver_protocol import cached, run, seed_everything


def _load_model():
    """Stands for an expensive model load: each load leaves a line in loads.log (in the checkout)."""
    with open("loads.log", "a") as f:
        f.write("%d\n" % os.getpid())
    return object()


def encode(batch):
    cached("model", _load_model)
    time.sleep(batch.settings.get("sleep_s", 0))
    for position, study in enumerate(batch.studies):
        if position == batch.settings.get("exit_after"):
            sys.stderr.write("fake upstream: CUDA error: out of memory\n")
            sys.exit(3)
        batch.each_study(lambda s: _encode_one(batch, s), [study])


def _encode_one(batch, study):
    if study["study_id"] in batch.settings.get("fail_ids", []):
        raise RuntimeError("codebook index out of range")
    seed_everything(study["seed"])
    condition = sum(float(batch.image(study, m).mean()) for m in batch.inputs if m != "T")
    condition += len(study["report"] or "")
    np.save(batch.scratch(study, "latent.npy"), np.random.rand(16, 16) * 0.5 + (condition % 1) * 0.5)


def decode(batch):
    def one(study):
        if study["study_id"] in batch.settings.get("skip_ids", []):
            return
        latent = np.load(batch.scratch(study, "latent.npy"))
        for modality in batch.outputs:
            if modality == "T":
                batch.write_text(study, modality, "impression: fake report %.4f\n" % latent.mean())
            else:
                image = np.kron(latent, np.ones((32, 32)))[..., None].repeat(3, axis=-1)  # 512x512 RGB
                if study["study_id"] in batch.settings.get("bad_ids", []):
                    image = image + 2.0
                batch.write_image(study, modality, image)

    batch.each_study(one, [s for s in batch.studies if _has_latent(batch, s)])


def _has_latent(batch, study):
    return os.path.exists(batch.scratch(study, "latent.npy"))


if __name__ == "__main__":
    run({"encode": encode, "decode": decode})
