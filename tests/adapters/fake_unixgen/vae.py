"""Stand-in for UniXGen's vae.py VQGanVAE: 512x512 images in [0, 1] <-> 32x32 = 1024 codes of a 1024-code book."""
import torch
import torch.nn.functional as F


class VQGanVAE(torch.nn.Module):
    def __init__(self, vqgan_model_path=None, vqgan_config_path=None):
        super().__init__()
        open(vqgan_model_path).close()
        open(vqgan_config_path).close()
        self.image_size, self.num_tokens = 512, 1024

    def get_codebook_indices(self, img):
        assert img.shape == (1, 3, 512, 512) and 0 <= float(img.min()) and float(img.max()) <= 1
        codes = (F.avg_pool2d(img[:, :1], 16).flatten(1) * 1023).round().long()
        return None, None, None, codes

    def decode(self, img_seq):
        assert img_seq.shape == (1, 1024) and int(img_seq.max()) < 1024
        grid = img_seq.float().reshape(1, 1, 32, 32) / 1023
        return F.interpolate(grid, size=(512, 512)).repeat(1, 3, 1, 1)
