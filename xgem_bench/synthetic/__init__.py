"""The synthetic demo dataset: procedural chest phantoms (phantom.py) paired with real IU X-ray reports whose
findings they draw (demo_reports.py), assembled into a manifest dataset (demo.py, the `demo` dataset spec)."""
