"""GREEN: the parser and score on completions in GREEN's output format (counts by hand, rules of upstream
`parse_error_counts`), the prompt against upstream's `make_prompt` text, and the whole batched path with a tiny
causal LM folder in the released model's format."""
import pytest

from xgem_bench.metrics import MetricUnavailable, get_metric_class
from xgem_bench.metrics.green import clean_response, parse_counts, prompt, score

from report_samples import make_metric, samples

# GREEN's answer format (the `4. Reporting Your Assessment` block of the prompt), filled in
FULL = """[Explanation]:
The candidate misses the effusion and overstates the edema.

[Clinically Significant Errors]:
(a) False report of a finding in the candidate: 0.
(b) Missing a finding present in the reference: 1. Left pleural effusion.
(c) Misidentification of a finding's anatomic location/position: 0.
(d) Misassessment of the severity of a finding: 2. Edema severity; cardiomegaly severity.
(e) Mentioning a comparison that isn't in the reference: 0.
(f) Omitting a comparison detailing a change from a prior study: 0.

[Clinically Insignificant Errors]:
(a) False report of a finding in the candidate: 1. Old rib fracture.

[Matched Findings]:
3. Edema; cardiomegaly; support devices.
"""


def test_parser_follows_upstream_rules():
    assert parse_counts(FULL, "Clinically Significant Errors") == (3, [0, 1, 0, 2, 0, 0])
    assert parse_counts(FULL, "Clinically Insignificant Errors") == (1, [1, 0, 0, 0, 0, 0])
    assert parse_counts(FULL, "Matched Findings") == (3, [0] * 6)
    values = score(FULL)
    assert values["green"] == pytest.approx(3 / (3 + 3))  # insignificant errors do not count
    counts = (values["significant_b"], values["significant_d"], values["insignificant"], values["matched"])
    assert counts == (1, 2, 1, 3)
    # no matched finding: 0 whatever the errors; a block starting with "No" counts 0
    assert score(FULL.replace("3. Edema; cardiomegaly; support devices.", "0."))["green"] == 0.0
    no_errors = FULL.split("[Clinically Significant Errors]:")[0] + \
        "[Clinically Significant Errors]:\nNo clinically significant errors.\n\n[Matched Findings]:\n2. A; B.\n"
    assert score(no_errors)["green"] == 1.0
    # the numbered fallback (1)-(6) of GPT-4-style answers
    numbered = "[Clinically Significant Errors]:\n(1) False finding: 2.\n(6) Omitted comparison: 1.\n\n" \
               "[Matched Findings]:\n1. Edema.\n"
    assert parse_counts(numbered, "Clinically Significant Errors") == (3, [2, 0, 0, 0, 0, 1])
    assert score(numbered)["green"] == pytest.approx(1 / 4)
    # a category that is absent counts 0
    assert parse_counts("nothing here", "Matched Findings") == (0, [0] * 6)


def test_clean_response_keeps_the_assistant_answer():
    decoded = "<|user|>\nprompt text\n<|assistant|>\n[Explanation]:\nfine</s>"
    assert clean_response(decoded) == "\nfine"
    assert clean_response("<|assistant|> answer <unk>") == " answer "


def test_prompt_is_upstream_make_prompt():
    # Stanford-AIMI/GREEN green_score/utils.py::make_prompt, its f-string as published
    expected = ("Objective: Evaluate the accuracy of a candidate radiology report in comparison to a reference radiology report composed by expert radiologists.\n\n    Process Overview: You will be presented with:\n\n    1. The criteria for making a judgment.\n    2. The reference radiology report.\n    3. The candidate radiology report.\n    4. The desired format for your assessment.\n\n    1. Criteria for Judgment:\n\n    For each candidate report, determine:\n\n    The count of clinically significant errors.\n    The count of clinically insignificant errors.\n\n    Errors can fall into one of these categories:\n\n    a) False report of a finding in the candidate.\n    b) Missing a finding present in the reference.\n    c) Misidentification of a finding's anatomic location/position.\n    d) Misassessment of the severity of a finding.\n    e) Mentioning a comparison that isn't in the reference.\n    f) Omitting a comparison detailing a change from a prior study.\n    Note: Concentrate on the clinical findings rather than the report's writing style. Evaluate only the findings that appear in both reports.\n\n    2. Reference Report:\n    REF TEXT\n\n    3. Candidate Report:\n    CAND TEXT\n\n    4. Reporting Your Assessment:\n\n    Follow this specific format for your output, even if no errors are found:\n    ```\n    [Explanation]:\n    <Explanation>\n\n    [Clinically Significant Errors]:\n    (a) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>\n    ....\n    (f) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>\n\n    [Clinically Insignificant Errors]:\n    (a) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>\n    ....\n    (f) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>\n\n    [Matched Findings]:\n    <The number of matched findings>. <Finding 1>; <Finding 2>; ...; <Finding n>\n    ```\n")  # noqa: E501
    assert prompt("REF TEXT", "CAND TEXT") == expected


def test_absent_model_is_a_clear_skip():
    reason = get_metric_class("green").unavailable_reason()
    assert "xgem-bench weights fetch green-radllama2-7b" in reason and "optional" in reason
    with pytest.raises(MetricUnavailable, match="green-radllama2-7b"):
        make_metric("green")


@pytest.mark.slow
def test_batched_path_with_a_tiny_causal_lm_folder(tmp_path):
    """The metric against transformers called as GREEN calls it (template, tokenizer options, greedy generate)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from report_tiny_models import build_causal_lm
    from xgem_bench import weights
    from xgem_bench.metrics.green import CHAT_TEMPLATE
    folder = build_causal_lm(tmp_path / "GREEN-RadLlama2-7b")
    weights.import_file("green-radllama2-7b", folder)
    pairs = [("Mild edema.", "Mild pulmonary edema and small effusion."), ("No acute process.", "Normal chest.")]
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, add_eos_token=True, use_fast=True, padding_side="left")
    tokenizer.chat_template, tokenizer.pad_token = CHAT_TEMPLATE, tokenizer.eos_token
    texts = [tokenizer.apply_chat_template([{"from": "human", "value": prompt(r, h)}, {"from": "gpt", "value": ""}],
                                           tokenize=False, add_generation_prompt=True) for h, r in pairs]
    assert texts[0].startswith("<|user|>\nObjective:") and texts[0].rstrip().endswith("<|assistant|>")
    # room for 12 generated tokens after the longest prompt (a random tiny LM would otherwise run to 2048 tokens)
    max_length = max(len(tokenizer(t)["input_ids"]) for t in texts) + 12
    metric = make_metric("green", batch_size=2, max_length=max_length)
    metric.update(samples(pairs))
    values, rows = metric.compute(), metric.per_sample()
    assert values["n"] == 2 and set(rows["s0"]) >= {"green", "matched", "significant_a", "insignificant"}

    batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
    with torch.inference_mode():
        out = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             max_length=max_length, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > batch["input_ids"].shape[1]  # something was generated
    for i, text in enumerate(tokenizer.batch_decode(out, skip_special_tokens=True)):
        assert rows[f"s{i}"] == score(clean_response(text))
