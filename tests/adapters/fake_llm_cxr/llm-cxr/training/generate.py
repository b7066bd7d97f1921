"""Stand-in for LLM-CXR's training/generate.py: same entry points; logs each call; for reports containing "retry"
the first image attempt yields no VQ codes, as upstream's extraction does when the LLM writes too few codes."""
import json

import torch

from .mimiccxr_vq_dataset import CXR_VQ_TOKENIZER_LEN


class _Tokenizer(object):
    def __len__(self):
        return CXR_VQ_TOKENIZER_LEN


def load_model_tokenizer_for_generate(path):
    with open(path + "/config.json") as f:
        json.load(f)
    return object(), _Tokenizer()


def generate_response(instruction, model, tokenizer, max_new_tokens, do_sample, top_p, top_k):
    instruction_text, input_text = instruction
    with open("calls.jsonl", "a") as f:
        f.write(json.dumps({"instruction": instruction_text, "input": input_text if isinstance(input_text, str)
                            else len(input_text), "max_new_tokens": max_new_tokens, "top_p": top_p,
                            "top_k": top_k, "do_sample": do_sample}) + "\n")
    if isinstance(input_text, list):
        assert len(input_text) == 256 and min(input_text) >= CXR_VQ_TOKENIZER_LEN
        mean_code = sum(input_text) / 256.0 - CXR_VQ_TOKENIZER_LEN
        return "impression: codes average %.1f, draw %d" % (mean_code, int(torch.randint(0, 1000, (1,)))), None
    if "retry" in input_text and not getattr(generate_response, "retried", False):
        generate_response.retried = True
        return "", None
    return "", torch.randint(0, 1024, (256,)).tolist()
