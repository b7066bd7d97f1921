"""Minimal stand-in for omegaconf.OmegaConf.load (attribute access to a YAML mapping) in the fake taming env."""
import yaml


class _Node(dict):
    def __getattr__(self, key):
        value = self[key]
        return _Node(value) if isinstance(value, dict) else value


class OmegaConf(object):
    @staticmethod
    def load(path):
        with open(path) as f:
            return _Node(yaml.safe_load(f))
