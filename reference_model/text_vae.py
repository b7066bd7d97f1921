"""Optimus text VAE (spec §5.1): BERT encoder -> (mu, logvar); GPT-2 decoder that receives the latent twice,
as one extra key/value "memory" position in every layer and as an embedding added to every input token.

Training: token cross-entropy + beta * KL with the cyclical schedule (beta = 0 for the first half, a linear ramp to 1,
then 1) and free bits (a latent dimension's KL counts only above `free_bits` while beta > 0).
Decoding: `sample` (multinomial, temperature 1, no filtering: what the public code does), `greedy`, `beam`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertModel, DynamicCache, GPT2Config, GPT2LMHeadModel

from xgem_bench.reference_model.config import TextVAEConfig

STRATEGIES = ("sample", "greedy", "beam")
#: attribute set on a sub-model that `--gradient-checkpointing` must leave alone (training.enable_gradient_checkpointing)
NO_CHECKPOINTING = "xgem_no_gradient_checkpointing"


def beta_schedule(step: int, total: int, zero: float = 0.5, increase: float = 0.25) -> float:
    """frange_cycle_zero_linear with one cycle: 0 for `zero` of the run, then linear 0 -> 1 over `increase`, then 1."""
    position = step / max(total, 1)
    if position < zero:
        return 0.0
    return min(1.0, (position - zero) / increase) if increase > 0 else 1.0


class OptimusVAE(nn.Module):
    def __init__(self, config: TextVAEConfig, encoder_pad_id: int = 0, decoder_pad_id: int = 0):
        super().__init__()
        self.config = config
        self.encoder = BertModel(BertConfig(
            vocab_size=config.bert_vocab, hidden_size=config.bert_hidden, num_hidden_layers=config.bert_layers,
            num_attention_heads=config.bert_heads, intermediate_size=config.bert_intermediate,
            max_position_embeddings=config.bert_max_positions, pad_token_id=encoder_pad_id))
        self.encoder_linear = nn.Linear(config.bert_hidden, 2 * config.latent_dim, bias=False)
        self.decoder = GPT2LMHeadModel(GPT2Config(
            vocab_size=config.gpt2_vocab, n_embd=config.gpt2_hidden, n_layer=config.gpt2_layers,
            n_head=config.gpt2_heads, n_positions=config.gpt2_max_positions, pad_token_id=decoder_pad_id))
        # transformers' GPT-2 passes no past key/values to its blocks while checkpointing (training): the latent
        # memory would silently vanish, so `--gradient-checkpointing` leaves the decoder alone (BERT is checkpointed)
        setattr(self.decoder, NO_CHECKPOINTING, True)
        self.memory = nn.Linear(config.latent_dim, config.gpt2_hidden * config.gpt2_layers, bias=False)
        self.embedding = nn.Linear(config.latent_dim, config.gpt2_hidden, bias=False)
        self.decoder_pad_id = decoder_pad_id

    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.encoder(input_ids=ids, attention_mask=mask).pooler_output
        mu, logvar = self.encoder_linear(pooled).chunk(2, dim=-1)
        return mu, logvar

    def _memory_cache(self, z: torch.Tensor) -> DynamicCache:
        """The latent as one past key/value position per layer (same vector for key and value, as Optimus)."""
        cfg = self.config
        cache = DynamicCache()
        heads, head_dim = cfg.gpt2_heads, cfg.gpt2_hidden // cfg.gpt2_heads
        for layer, chunk in enumerate(self.memory(z).chunk(cfg.gpt2_layers, dim=-1)):
            kv = chunk.reshape(len(z), heads, 1, head_dim)
            cache.update(kv, kv, layer)
        return cache

    def _logits(self, z, ids, mask, cache):
        embeds = self.decoder.transformer.wte(ids) + self.embedding(z).unsqueeze(1)
        full_mask = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1) if mask is not None else None
        out = self.decoder(inputs_embeds=embeds, past_key_values=cache, attention_mask=full_mask, use_cache=True)
        return out.logits, out.past_key_values

    def reconstruction_loss(self, z: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Summed token cross-entropy per sequence (teacher forcing; padding ignored)."""
        logits, _ = self._logits(z, ids[:, :-1], mask[:, :-1], self._memory_cache(z))
        target = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        ce = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=-100, reduction="none")
        return ce.sum(dim=1)

    def loss(self, enc_ids, enc_mask, dec_ids, dec_mask, beta: float) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode(enc_ids, enc_mask)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if beta > 0 else mu
        rec = self.reconstruction_loss(z, dec_ids, dec_mask).mean()
        kl_dim = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)  # [B, latent]
        kl = kl_dim.sum(dim=1).mean()
        if beta > 0:  # free bits: only dimensions whose batch-mean KL exceeds the target count
            per_dim = kl_dim.mean(dim=0)
            kl_loss = (per_dim * (per_dim > self.config.free_bits).float()).sum()
        else:
            kl_loss = torch.zeros((), device=mu.device)
        return {"loss": rec + beta * kl_loss, "reconstruction": rec.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def decode(self, z: torch.Tensor, bos_id: int, eos_id: int, max_length: int, strategy: str = "sample",
               generators: list[torch.Generator] | None = None, num_beams: int = 4,
               temperature: float = 1.0) -> list[list[int]]:
        """Token ids per latent, without <BOS>, up to and without <EOS>."""
        if strategy == "beam":
            return [self._beam(z[i: i + 1], bos_id, eos_id, max_length, num_beams) for i in range(len(z))]
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown decoding strategy {strategy!r}; use one of {STRATEGIES}")
        n = len(z)
        cache = self._memory_cache(z)
        token = torch.full((n, 1), bos_id, dtype=torch.long, device=z.device)
        mask = torch.ones((n, 1), dtype=torch.long, device=z.device)
        done = torch.zeros(n, dtype=torch.bool, device=z.device)
        out: list[list[int]] = [[] for _ in range(n)]
        for _ in range(max_length):
            logits, cache = self._logits(z, token, mask, cache)
            logits = logits[:, -1].float()
            if strategy == "greedy":
                nxt = logits.argmax(-1)
            else:
                probs = torch.softmax(logits / temperature, dim=-1).cpu()
                nxt = torch.stack([torch.multinomial(probs[i], 1, generator=None if generators is None
                                                     else generators[i])[0] for i in range(n)]).to(z.device)
            for i in range(n):
                if not done[i]:
                    if nxt[i].item() == eos_id:
                        done[i] = True
                    else:
                        out[i].append(nxt[i].item())
            if done.all():
                break
            token = nxt.unsqueeze(1)
            mask = torch.cat([mask, torch.ones_like(token)], dim=1)
        return out

    def _beam(self, z: torch.Tensor, bos_id: int, eos_id: int, max_length: int, num_beams: int) -> list[int]:
        """Length-normalised beam search for one latent."""
        beams = [([], 0.0)]
        finished: list[tuple[list[int], float]] = []
        for _ in range(max_length):
            k = len(beams)
            seqs = torch.tensor([[bos_id] + b for b, _ in beams], device=z.device)
            zz = z.expand(k, -1)
            logits, _ = self._logits(zz, seqs, torch.ones_like(seqs), self._memory_cache(zz))
            logp = torch.log_softmax(logits[:, -1].float(), dim=-1)
            scores = torch.tensor([s for _, s in beams], device=z.device).unsqueeze(1) + logp
            top = scores.flatten().topk(num_beams)
            beams = []
            for score, index in zip(top.values.tolist(), top.indices.tolist()):
                parent, token = divmod(index, logp.shape[1])
                base = seqs[parent, 1:].tolist()
                if token == eos_id:
                    finished.append((base, score / (len(base) + 1)))
                else:
                    beams.append((base + [token], score))
            if not beams or len(finished) >= num_beams:
                break
        finished += [(b, s / (len(b) + 1)) for b, s in beams]
        return max(finished, key=lambda item: item[1])[0]
