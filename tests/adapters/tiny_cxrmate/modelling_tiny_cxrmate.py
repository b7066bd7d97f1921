"""A tiny stand-in for CXRMate's published custom code (modelling_longitudinal.py on the hub), loaded the same way:
`AutoModel.from_pretrained(folder, trust_remote_code=True)` through the `auto_map` of the folder's config.json.

It offers the interface the upstream example calls: generate() taking [B, n_images, 3, H, W] pixel values plus the
`special_token_ids` / `mask_token_id` keywords, tokenize_prompt() and split_and_decode_sections().
"""
import torch
import transformers
from transformers.modeling_outputs import BaseModelOutput


class TinyLongitudinalModel(transformers.VisionEncoderDecoderModel):
    def encode_images(self, pixel_values):
        """Every image of a study is encoded on its own; their tokens are concatenated (zero-padded images kept)."""
        b, n = pixel_values.shape[:2]
        hidden = self.encoder(pixel_values=pixel_values.flatten(0, 1)).last_hidden_state
        hidden = hidden.reshape(b, n * hidden.shape[1], hidden.shape[2])
        return BaseModelOutput(last_hidden_state=hidden)

    def forward(self, pixel_values=None, encoder_outputs=None, **kwargs):
        if encoder_outputs is None:
            encoder_outputs = self.encode_images(pixel_values)
        return super().forward(encoder_outputs=encoder_outputs, **kwargs)

    def generate(self, pixel_values=None, special_token_ids=None, mask_token_id=None, **kwargs):
        return super().generate(encoder_outputs=self.encode_images(pixel_values), **kwargs)

    @staticmethod
    def tokenize_prompt(previous_findings, previous_impression, tokenizer, max_len, add_bos_token_id=False):
        """As modelling_longitudinal.py: [NPF]/[NPI] for missing sections, '[PMT]findings[PMT-SEP]impression[BOS]',
        longest padding, truncation to max_len with the BOS kept last."""
        previous_findings = ["[NPF]" if not i else i for i in previous_findings]
        previous_impression = ["[NPI]" if not i else i for i in previous_impression]
        texts = ["[PMT]%s[PMT-SEP]%s%s" % (i, j, tokenizer.bos_token if add_bos_token_id else "")
                 for i, j in zip(previous_findings, previous_impression)]
        sections = tokenizer(texts, padding="longest", truncation=True, max_length=max_len, return_tensors="pt",
                             return_token_type_ids=False, add_special_tokens=False)
        if sections.input_ids.shape[1] == max_len:
            sections.input_ids[:, -1] = torch.where(sections.attention_mask[:, -1] == 1, tokenizer.bos_token_id,
                                                    sections.input_ids[:, -1])
        return {"input_ids": sections.input_ids, "attention_mask": sections.attention_mask}

    @staticmethod
    def split_and_decode_sections(token_ids, special_token_ids, tokenizer):
        """One list per section: the tokens before each special token in turn, decoded."""
        sections = [[] for _ in special_token_ids]
        for row in token_ids.tolist():
            start = 0
            for k, special in enumerate(special_token_ids):
                end = row.index(special, start) if special in row[start:] else len(row)
                sections[k].append(tokenizer.decode(row[start:end], skip_special_tokens=True).strip())
                start = min(end + 1, len(row))
        return tuple(sections)
