"""Driver side of the xgem-bench subprocess protocol (see adapters/subprocess_protocol.py).

Runs inside the model's own environment: standard library + numpy only, Python 3.7 syntax, no xgem-bench import.
A driver calls `run({"stage name": function})`; each function receives a `Batch` and usually loops with
`batch.each_study(fn)`, which records an exception as that study's failure and goes on with the next study.

`driver.py STAGE MANIFEST` runs one batch; `driver.py --serve STAGE` keeps the process (and the models it loaded
through `cached`) alive, running the stage on each manifest path read from stdin and writing
`status/<STAGE>.done` ({"error": null or "..."}) beside that manifest when the batch is finished.
"""
import json
import os
import random
import sys
import traceback

import numpy as np

PROTOCOL_VERSION = 1


class Batch(object):
    def __init__(self, manifest_path):
        self.root = os.path.dirname(os.path.abspath(manifest_path))
        with open(manifest_path) as f:
            self.manifest = json.load(f)
        if self.manifest.get("protocol") != PROTOCOL_VERSION:
            raise SystemExit("manifest protocol %r, this driver speaks %d: update xgem-bench's drivers"
                             % (self.manifest.get("protocol"), PROTOCOL_VERSION))
        self.task = self.manifest["task"]
        self.inputs = self.manifest["inputs"]
        self.outputs = self.manifest["outputs"]
        # "settings" (xgem-bench writes both names; a manifest from before the rename has only "options")
        self.settings = self.manifest["settings"] if "settings" in self.manifest else self.manifest["options"]
        self.options = self.settings  # the old name, for drivers written before the rename
        self.device = self.manifest["device"]
        self.studies = self.manifest["studies"]

    def path(self, relative):
        return os.path.join(self.root, relative)

    def image(self, study, modality):
        """Input image as float32 (H, W) in [0, 1]."""
        return np.load(self.path(study["images"][modality]))

    def write_image(self, study, modality, array):
        array = np.asarray(array, dtype=np.float32)
        self._write(study["outputs"][modality], lambda f: np.save(f, array), binary=True)

    def write_text(self, study, modality, text):
        self._write(study["outputs"][modality], lambda f: f.write(text.encode("utf-8")), binary=True)

    def scratch(self, study, name):
        """A per-study file name for intermediates shared between stages."""
        return self.path(os.path.join("scratch", "%d-%s" % (study["index"], name)))

    def failed(self, study):
        return os.path.exists(self.path(os.path.join("status", "%d.json" % study["index"])))

    def fail(self, study, error):
        with open(self.path(os.path.join("status", "%d.json" % study["index"])), "w") as f:
            json.dump({"error": error}, f)

    def each_study(self, function, studies=None):
        """Call function(study) for every study not yet failed; an exception fails that study only."""
        for study in self.studies if studies is None else studies:
            if self.failed(study):
                continue
            try:
                function(study)
            except Exception as error:  # noqa: BLE001 - reported per study, the batch goes on
                self.fail(study, "%s: %s" % (type(error).__name__, error))
                traceback.print_exc()

    def _write(self, relative, writer, binary):
        # write then rename, so a killed driver never leaves a half-written output behind
        target = self.path(relative)
        if not os.path.isdir(os.path.dirname(target)):
            os.makedirs(os.path.dirname(target))
        temporary = target + ".part"
        with open(temporary, "wb" if binary else "w") as f:
            writer(f)
        os.rename(temporary, target)


def seed_everything(seed):
    """Seed every generator the upstream code may draw from, so one study's output depends only on its seed."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


_LOADED = {}


def cached(key, load):
    """load() once per driver process: a serving driver keeps its models across batches."""
    if key not in _LOADED:
        _LOADED[key] = load()
    return _LOADED[key]


def serve(stage, name):
    """Run `stage` on every manifest path read from stdin. An exception fails that batch (reported in the .done file)
    and the process goes on; sys.exit or a crash ends it, as in a one-shot run."""
    for line in iter(sys.stdin.readline, ""):
        manifest_path = line.strip()
        if not manifest_path:
            continue
        error = None
        try:
            stage(Batch(manifest_path))
        except Exception as failure:  # noqa: BLE001 - reported for this batch; the loaded models stay
            traceback.print_exc()
            error = "%s: %s" % (type(failure).__name__, failure)
        sys.stdout.flush()
        sys.stderr.flush()
        done = os.path.join(os.path.dirname(os.path.abspath(manifest_path)), "status", name + ".done")
        with open(done + ".part", "w") as f:
            json.dump({"error": error}, f)
        os.rename(done + ".part", done)


def run(stages):
    if len(sys.argv) == 3 and sys.argv[1] == "--serve" and sys.argv[2] in stages:
        serve(stages[sys.argv[2]], sys.argv[2])
        return
    if len(sys.argv) != 3 or sys.argv[1] not in stages:
        raise SystemExit("usage: %s {%s} MANIFEST.json | --serve STAGE" % (sys.argv[0], "|".join(sorted(stages))))
    stages[sys.argv[1]](Batch(sys.argv[2]))
