"""GREEN (Ostmeier et al. 2024): an LLM judge counts the clinically significant errors of a generated report against
the real one, and the matched findings; GREEN = matched / (matched + significant errors), 0 when nothing matches.

Follows Stanford-AIMI/GREEN `green_score/green.py` + `utils.py` and RadEval's copy (`radeval/metrics/green_score`):
each report is cut to its first ``max_report_words`` whitespace words (300) and put into GREEN's fixed instructions
(`prompt`); the conversation [human: prompt, gpt: ""] goes through GREEN's chat template with the generation prompt;
the tokenizer pads on the left with eos as pad and adds eos; inputs are truncated to ``max_length`` tokens (2048) and
greedy generation runs to ``max_length`` tokens in all, in batches of the run's batch size (upstream: 8); the decoded
text is cleaned as upstream `clean_responses` does and parsed by `parse_counts`. Weights: a local model folder through
the weights catalog (``model``: ``green-radllama2-7b``, ReXrank's judge, about 13.5 GB in fp16: a GPU of 24 GB or more
is needed in practice). fp16 on CUDA, fp32 on CPU (RadEval's choice). The folder's code runs with
``trust_remote_code`` (except Phi models, as upstream), after its checksum was verified.

Per study: ``green``, the significant error counts ``significant_a`` .. ``significant_f`` (GREEN's categories (a) false
finding, (b) missed finding, (c) wrong location, (d) wrong severity, (e) invented comparison, (f) omitted comparison),
``insignificant`` (their sum among clinically insignificant errors) and ``matched``.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

import numpy as np

from xgem_bench.metrics.base import Metric, MetricUnavailable, Sample

MODELS = ("green-radllama2-7b",)
CATEGORIES = ("Clinically Significant Errors", "Clinically Insignificant Errors", "Matched Findings")
SUBCATEGORIES = "abcdef"
#: GREEN's chat template (`green.py`), a Jinja string the released tokenizers do not carry
CHAT_TEMPLATE = ("{% for message in messages %}\n{% if message['from'] == 'human' %}\n"
                 "{{ '<|user|>\\n' + message['value'] + eos_token }}\n{% elif message['from'] == 'system' %}\n"
                 "{{ '<|system|>\\n' + message['value'] + eos_token }}\n{% elif message['from'] == 'gpt' %}\n"
                 "{{ '<|assistant|>\\n'  + message['value'] + eos_token }}\n{% endif %}\n"
                 "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}")
_ERROR_TYPES = ("False report of a finding in the candidate.", "Missing a finding present in the reference.",
                "Misidentification of a finding's anatomic location/position.",
                "Misassessment of the severity of a finding.", "Mentioning a comparison that isn't in the reference.",
                "Omitting a comparison detailing a change from a prior study.")


def prompt(reference: str, candidate: str) -> str:
    """GREEN's instructions around one reference and one candidate report (`utils.make_prompt`)."""
    errors = "\n".join(f"    {letter}) {text}" for letter, text in zip(SUBCATEGORIES, _ERROR_TYPES))
    block = ("    (a) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>\n    ....\n"
             "    (f) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>\n")
    return (
        "Objective: Evaluate the accuracy of a candidate radiology report in comparison to a reference radiology "
        "report composed by expert radiologists.\n\n    Process Overview: You will be presented with:\n\n"
        "    1. The criteria for making a judgment.\n    2. The reference radiology report.\n"
        "    3. The candidate radiology report.\n    4. The desired format for your assessment.\n\n"
        "    1. Criteria for Judgment:\n\n    For each candidate report, determine:\n\n"
        "    The count of clinically significant errors.\n    The count of clinically insignificant errors.\n\n"
        f"    Errors can fall into one of these categories:\n\n{errors}\n"
        "    Note: Concentrate on the clinical findings rather than the report's writing style. Evaluate only the "
        "findings that appear in both reports.\n\n"
        f"    2. Reference Report:\n    {reference}\n\n    3. Candidate Report:\n    {candidate}\n\n"
        "    4. Reporting Your Assessment:\n\n    Follow this specific format for your output, even if no errors are "
        "found:\n    ```\n    [Explanation]:\n    <Explanation>\n\n    [Clinically Significant Errors]:\n"
        f"{block}\n    [Clinically Insignificant Errors]:\n{block}\n"
        "    [Matched Findings]:\n    <The number of matched findings>. <Finding 1>; <Finding 2>; ...; <Finding n>\n"
        "    ```\n")


def clean_response(response: str) -> str:
    """Upstream `clean_responses`, quirk included: its `("A" or "B") in s` tests only the first string."""
    if "[Explanation]:" in response:
        if "<|assistant|>" in response:
            response = response.split("<|assistant|>")[-1]
        if "[Explanation]:\n    <Explanation>\n" in response:
            response = response.split("[Explanation]:")[1]
        else:
            response = response.split("[Explanation]:")[-1]
    if "<|assistant|>" in response:
        response = response.split("<|assistant|>")[-1]
    return response.replace("</s>", "").replace("<unk>", "")


def parse_counts(text: str, category: str) -> tuple[int, list[int]]:
    """(total, per-subcategory counts) of one category block, as upstream `parse_error_counts`: the block runs from
    `[<category>]:` to the first blank line; one starting with "No" counts 0; error lines `(a) ...: N.` (or `(1)` ..
    `(6)`) give the counts; Matched Findings is the leading integer before a period."""
    found = re.search(rf"\[{re.escape(category)}\]:\s*(.*?)(?:\n\s*\n|\Z)", text, re.DOTALL)
    counts = [0] * len(SUBCATEGORIES)
    if not found or found.group(1).startswith("No"):
        return 0, counts
    body = found.group(1)
    if category == "Matched Findings":
        number = re.findall(r"^\b\d+\b(?=\.)", body)
        return (int(number[0]) if number else 0), counts
    lines = sorted(re.findall(r"\([a-f]\) .*", body))
    labels = [f"({letter}) " for letter in SUBCATEGORIES]
    if not lines:
        lines = sorted(re.findall(r"\([1-6]\) .*", body))
        labels = [f"({i}) " for i in range(1, 7)]
    for position, label in enumerate(labels):
        for line in lines:
            if line.startswith(label):
                number = re.findall(r"(?<=: )\b\d+\b(?=\.)", line)
                if number:
                    counts[position] = int(number[0])
    return sum(counts), counts


def score(response: str) -> dict[str, float]:
    """GREEN and its counts from one cleaned judge response."""
    _, significant = parse_counts(response, CATEGORIES[0])
    insignificant, _ = parse_counts(response, CATEGORIES[1])
    matched, _ = parse_counts(response, CATEGORIES[2])
    green = 0.0 if matched == 0 else matched / (matched + sum(significant))
    counts = {f"significant_{letter}": float(n) for letter, n in zip(SUBCATEGORIES, significant)}
    return {"green": float(green), **counts, "insignificant": float(insignificant), "matched": float(matched)}


@lru_cache(maxsize=1)
def _judge(folder: str, sha256: str, device: str, trust_remote_code: bool):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    cuda = device.startswith("cuda")
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=trust_remote_code,
                                                 dtype=torch.float16 if cuda else torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, add_eos_token=True, use_fast=True,
                                              trust_remote_code=trust_remote_code, padding_side="left")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.clean_up_tokenization_spaces = True
    return model.to(device).eval(), tokenizer


def judge_responses(references: Sequence[str], candidates: Sequence[str], model, tokenizer, max_length: int,
                    device: str = "cpu") -> list[str]:
    """The cleaned responses of the judge for aligned (already truncated) report pairs, as one batch."""
    import torch
    texts = [tokenizer.apply_chat_template([{"from": "human", "value": prompt(r, c)}, {"from": "gpt", "value": ""}],
                                           tokenize=False, add_generation_prompt=True)
             for r, c in zip(references, candidates)]
    batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length).to(device)
    with torch.inference_mode():
        outputs = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                 eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                                 max_length=max_length, do_sample=False)
    return [clean_response(text) for text in tokenizer.batch_decode(outputs, skip_special_tokens=True)]


def truncate_words(text: str | None, words: int) -> str:
    return " ".join((text or "").split()[:words])


class GREEN(Metric):
    name = "green"
    kind = "text"
    primary = "green"

    @classmethod
    def default_settings(cls):
        return {"model": MODELS[0], "max_report_words": 300, "max_length": 2048}

    @classmethod
    def allowed_settings(cls):
        return {"model": MODELS}

    @classmethod
    def unavailable_reason(cls, settings=None):
        from xgem_bench import weights
        settings = {**cls.default_settings(), **(settings or {})}
        if settings["model"] not in MODELS:
            return f"green model must be one of {', '.join(MODELS)}, got {settings['model']!r}"
        reason = weights.missing_reason(settings["model"])
        return (f"{reason} (GREEN is optional: its judge is a 7B LLM, about 13.5 GB, best run on a GPU of 24 GB or "
                "more)") if reason else None

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        reason = self.unavailable_reason(self.settings)
        if reason:
            raise MetricUnavailable(reason)
        from xgem_bench import weights
        self.settings["model_sha256"] = weights.checksum(self.settings["model"])
        self.add_state("scores", [], "extend")

    def update(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        from xgem_bench import weights
        folder = weights.require(self.settings["model"])
        model, tokenizer = _judge(str(folder), weights.checksum(self.settings["model"]) or "",
                                  str(self.context.device), "phi" not in self.settings["model"].lower())
        words = self.settings["max_report_words"]
        refs = [truncate_words(self.reference_of(s), words) for s in samples]
        hyps = [truncate_words(self.generated_of(s), words) for s in samples]
        responses = judge_responses(refs, hyps, model, tokenizer, self.settings["max_length"],
                                    str(self.context.device))
        for sample, response in zip(samples, responses):
            values = score(response)
            self.scores.append(values["green"])
            self.record(sample.study.study_id, **values)

    def compute(self):
        scores = np.array(self.scores, dtype=np.float64)
        return {"green": float(scores.mean()) if len(scores) else float("nan"),
                "green_std": float(scores.std()) if len(scores) else float("nan"), "n": len(scores)}
