"""Stand-in for UniXGen's unified_plmodel.py: same entry points, checks the batches the xgem-bench driver builds
against the upstream conventions (slots, modes, views, view SOS tokens, sequence lengths) and logs them."""
import json

import torch

VIEW_SOS = {"AP": 1025, "PA": 1027, "LATERAL": 1029}
IMG_LEN, TXT_LEN = 1026, 256


class _LM(object):
    def __init__(self, sos, eos, pad):
        self.max_img_num = None
        self.sos, self.eos, self.pad = sos, eos, pad

    def _check(self, batch, target, filter_logits_fn):
        modes, views = batch["modes"], batch["view_position"]
        assert all(len(m) == 1 for m in modes), "one study per call"
        assert modes[-1][0] == target, "the generated modality comes last"
        slots = [m[0] for m in modes if m[0] != "txt"]
        assert slots == ["img%d" % (i + 1) for i in range(self.max_img_num)], (slots, self.max_img_num)
        assert len(views) == self.max_img_num
        for i, view in enumerate(views):
            tokens = batch["img%d" % (i + 1)]
            assert tokens.shape == (1, IMG_LEN) and int(tokens[0, 0]) == VIEW_SOS[view[0]], (i, view)
        assert batch["txt"].shape == (1, TXT_LEN) and filter_logits_fn == "top_p"
        with open("calls.jsonl", "a") as f:
            f.write(json.dumps({"modes": modes, "views": views, "max_img_num": self.max_img_num,
                                "txt_tokens": int((batch["txt"] != self.pad).sum())}) + "\n")

    def generate_texts(self, batch, sos_token_idx, eos_token_idx, pad_token_idx, filter_logits_fn, filter_thres,
                       temperature, causal):
        self._check(batch, "txt", filter_logits_fn)
        words = torch.randint(100, 200, (1, 6))
        row = [sos_token_idx] + words[0].tolist() + [eos_token_idx]
        return torch.tensor([row + [pad_token_idx] * (TXT_LEN - len(row))])

    def generate_image(self, batch, filter_logits_fn, filter_thres, temperature, causal):
        target = batch["modes"][-1][0]
        self._check(batch, target, filter_logits_fn)
        sos = VIEW_SOS[batch["view_position"][-1][0]]
        return torch.cat([torch.tensor([[sos]]), torch.randint(0, 1024, (1, 1024)), torch.tensor([[sos + 1]])], 1)


class TransformerLightning_unified(object):
    causal = "conditioned_causal"

    @classmethod
    def load_from_checkpoint(cls, path, map_location=None):
        with open(path) as f:
            ids = json.load(f)
        model = cls()
        model.sos_token_idx, model.eos_token_idx, model.pad_token_idx = ids["sos"], ids["eos"], ids["pad"]
        model.transformerLM_unified = _LM(ids["sos"], ids["eos"], ids["pad"])
        return model

    def to(self, device):
        return self

    def eval(self):
        return self
